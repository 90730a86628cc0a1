#!/usr/bin/env python3
"""A complete, correct receipts server for `receiptdb sim --server-cmd`.

It speaks the JSON-lines protocol of docs/SIM-SERVER.md (protocol version 3):
one request object per line on stdin, exactly one answer object per line on
stdout. Python 3 standard library only; no clock, no randomness, and every
packet list is built in a fixed order (sorted users, devices and
conversations), so the same seed always gives the same run.

Run it under the simulator:

    receiptdb sim --server-cmd "python3 examples/servers/reference_server.py"
    receiptdb sim --seeds 1..50 --server-cmd "python3 examples/servers/reference_server.py"

Every sync answers with everything (`upto: 0`), the simple choice the
document recommends; the stores merge snapshots as a lattice, so resending
is always safe.
"""

import json
import sys
import traceback

PROTOCOL = 3
NOT_ALLOWED = 20009   # unknown message, no receipt wanted, own message, not a recipient
RECALLED = 20016
PART_SIZE = 1000      # most messages in one snapshot part


def at_or_before(join_time, t):
    """A join time of None means "a member since before any message"."""
    return join_time is None or join_time <= t


def earlier(a, b):
    """The earlier of two join times, None being earliest of all."""
    if a is None or b is None:
        return None
    return min(a, b)


class Message:
    def __init__(self, m):
        self.id = m["messageID"]
        self.sender = m["from"]
        self.group = m.get("groupID")     # set for a group message
        self.peer = m.get("peerID")       # set for a one-to-one message
        self.time = m["time"]
        self.sequence = m["sequence"]
        self.need = bool(m.get("needReadReceipt"))
        # dict.fromkeys: de-duplicated, in the order given
        self.recipients = list(dict.fromkeys(m["recipients"]))
        # Accepted readers in acceptance order (a list, not a set, so that
        # nothing depends on string hashing).
        self.readers = []
        self.read_times = {}    # reader -> time of their first receipt
        self.delivered = []     # users who acked delivery, in order
        self.recalled = False

    def conversation(self, user):
        """The conversation ID as `user` sees it."""
        if self.group is not None:
            return "GROUP" + self.group
        return "C2C" + (self.peer if user == self.sender else self.sender)

    def view(self, user):
        """The message as a device of `user` sees it."""
        group = self.group is not None
        view = {
            "ID": self.id,
            "conversationID": self.conversation(user),
            "conversationType": "GROUP" if group else "C2C",
            "from": self.sender,
            # C2C: `to` is the receiving user, the sender's peerID, on both sides
            "to": self.group if group else self.peer,
            "time": self.time,
            "sequence": self.sequence,
            "needReadReceipt": self.need,
        }
        if self.recalled:
            view["isRevoked"] = True    # every copy sent after the recall says so
        return view


class Group:
    def __init__(self, group_type):
        self.type = group_type
        self.members = {}    # current members: user -> join time (None = always)
        # Earliest join time every user ever had, kept after they leave and
        # across rejoins, so a read once in an audience stays in it.
        self.earliest = {}

    def join(self, user, join_time):
        self.members[user] = join_time
        if user in self.earliest:
            self.earliest[user] = earlier(self.earliest[user], join_time)
        else:
            self.earliest[user] = join_time

    def leave(self, user):
        self.members.pop(user, None)


class Server:
    name = "python reference server"

    def __init__(self):
        self.device_user = {}     # device -> user
        self.user_devices = {}    # user -> sorted list of devices
        self.groups = {}          # groupID -> Group
        self.messages = {}        # messageID -> Message
        self.conversations = {}   # user -> {conversationID -> [Message] in send order}
        self.positions = {}       # user -> {conversationID -> read position}
        self.public = {}          # user -> {conversationID -> position peers may see}
        self.marks = {}           # user -> {conversationID -> mark registers}

    # ---- dispatch -------------------------------------------------------

    def handle(self, req):
        kind = req.get("kind")
        method = getattr(self, "on_" + str(kind), None)
        if method is None:
            return {"error": "unknown request kind %r" % (kind,)}
        return method(req)

    def devices_of(self, user):
        return self.user_devices.get(user, [])

    # ---- receipt figures (SIM-SERVER.md, "Receipt figures") --------------

    def is_held(self, msg, user):
        """Whether the server already holds `user`'s receipt for `msg`."""
        return user in msg.readers

    def figures(self, msg):
        """(readCount, unreadCount) of `msg` against the roster now."""
        if msg.group is None:
            return (1, 0) if msg.peer in msg.readers else (0, 1)
        group = self.groups.get(msg.group) or Group(None)
        t, sender = msg.time, msg.sender
        # Read list: readers (not the sender) whose earliest join time is at
        # or before t; this covers both members now and former members.
        read = [u for u in msg.readers
                if u != sender and u in group.earliest
                and at_or_before(group.earliest[u], t)]
        # Unread list: members now, in the audience by their *current* join
        # time, who have not read it.
        unread = [u for u, jt in group.members.items()
                  if u != sender and at_or_before(jt, t) and u not in msg.readers]
        return len(read), len(unread)

    def receivers(self, msg):
        """Who received `msg`: delivery acks and readers (a reader counts)."""
        return sorted(set(msg.delivered) | set(msg.readers))

    def delivered_figures(self, msg):
        """(deliveredCount, isPeerDelivered or None) of `msg`."""
        everyone = self.receivers(msg)
        if msg.group is None:
            peer = msg.peer in everyone
            return (1 if peer else 0), peer
        group = self.groups.get(msg.group) or Group(None)
        count = len([u for u in everyone
                     if u != msg.sender and u in group.earliest
                     and at_or_before(group.earliest[u], msg.time)])
        return count, None

    def addressed(self, note, msg, user):
        if msg.group is not None:
            note["groupID"] = msg.group
        else:
            note["conversationID"] = "C2C" + user   # as the sender sees it
        return note

    def register(self, user, cid):
        return self.marks.setdefault(user, {}).setdefault(
            cid, {"readTime": 0, "marked": False, "markTime": 0})

    def notification(self, msg, reader):
        read_count, unread_count = self.figures(msg)
        note = {"messageID": msg.id, "userID": reader,
                "readCount": read_count, "unreadCount": unread_count}
        if msg.group is not None:
            note["groupID"] = msg.group
        else:
            note["conversationID"] = "C2C" + reader   # as the sender sees it
            note["isPeerRead"] = True
        return note

    # ---- requests ---------------------------------------------------------

    def on_hello(self, req):
        for d in req["devices"]:
            self.device_user[d["device"]] = d["userID"]
            self.user_devices.setdefault(d["userID"], []).append(d["device"])
        for devices in self.user_devices.values():
            devices.sort()
        for g in req.get("groups", []):
            group = self.groups[g["groupID"]] = Group(g.get("groupType"))
            for m in g["members"]:
                group.join(m["userID"], m.get("joinTime"))
        return {"protocol": PROTOCOL, "name": self.name}

    def on_message(self, req):
        msg = Message(req["message"])
        self.messages[msg.id] = msg
        packets = []
        for user in sorted(msg.recipients):
            convs = self.conversations.setdefault(user, {})
            convs.setdefault(msg.conversation(user), []).append(msg)
            view = msg.view(user)
            # Every device of every recipient, the sender's own included.
            for d in self.devices_of(user):
                packets.append({"to": d, "kind": "messages", "messages": [view]})
        return {"packets": packets}

    def on_receipts(self, req):
        device = req["device"]
        user = self.device_user.get(device)
        now = req["time"]
        rejected, fresh, repeats = [], [], []
        for mid in req["messageIDs"]:
            msg = self.messages.get(mid)
            if (msg is None or not msg.need or msg.sender == user
                    or user not in msg.recipients):
                rejected.append({"messageID": mid, "code": NOT_ALLOWED})
            elif self.is_held(msg, user):
                repeats.append(msg)    # changes nothing; the sender hears its time
            elif msg.recalled:
                rejected.append({"messageID": mid, "code": RECALLED})
            else:
                msg.readers.append(user)
                msg.read_times.setdefault(user, now)
                fresh.append(msg)
        # The ack always goes first, also for a batch of repeats, or the
        # device keeps the batch pending forever.
        packets = [{"to": device, "kind": "ack", "batchID": req["batchID"],
                    "rejected": rejected}]
        by_sender = {}
        for msg in fresh:
            note = self.notification(msg, user)
            note["readTime"] = now
            by_sender.setdefault(msg.sender, []).append(note)
        for msg in repeats:
            note = self.addressed({"messageID": msg.id, "userID": user, "readTime": now},
                                  msg, user)
            by_sender.setdefault(msg.sender, []).append(note)
        for sender in sorted(by_sender):
            for d in self.devices_of(sender):
                packets.append({"to": d, "kind": "notify",
                                "notifications": by_sender[sender]})
        return {"packets": packets}

    def on_readReports(self, req):
        device = req["device"]
        user = self.device_user.get(device)
        mine = self.positions.setdefault(user, {})
        acks, pushes = [], []
        for r in req["reports"]:
            cid = r["conversationID"]
            old = mine.get(cid, 0)
            position = max(old, r["readSequence"])
            mine[cid] = position
            reg = self.register(user, cid)
            timed = r.get("readTime") is not None and r["readTime"] > reg["readTime"]
            if timed:
                reg["readTime"] = r["readTime"]
            ack = {"conversationID": cid, "readSequence": position}
            if reg["readTime"] > 0:
                ack["readTime"] = reg["readTime"]
            acks.append(ack)
            if position > old or timed:
                push = {"conversationID": cid}
                if position > old:
                    push["readSequence"] = position
                if timed:
                    push["readTime"] = reg["readTime"]
                for d in self.devices_of(user):
                    if d != device:
                        pushes.append({"to": d, "kind": "readPush", "reports": [push]})
            # A private report moves the user's own position only.
            public = self.public.setdefault(user, {})
            if r.get("private") or r["readSequence"] <= public.get(cid, 0):
                continue
            public[cid] = r["readSequence"]
            if cid.startswith("C2C"):
                for d in self.devices_of(cid[3:]):
                    pushes.append({"to": d, "kind": "readPush", "reports": [
                        {"conversationID": "C2C" + user,
                         "peerReadSequence": public[cid]}]})
        return {"packets": [{"to": device, "kind": "readAck", "reports": acks}]
                + pushes}

    def on_deliveries(self, req):
        device = req["device"]
        user = self.device_user.get(device)
        by_sender = {}
        for mid in req["messageIDs"]:
            msg = self.messages.get(mid)
            if (msg is None or not msg.need or msg.sender == user
                    or user not in msg.recipients or user in msg.delivered):
                continue    # nothing to reject: a delivery ack is only news
            msg.delivered.append(user)
            if user in msg.readers:
                continue    # already counted as delivered by the read
            count, peer = self.delivered_figures(msg)
            note = self.addressed({"messageID": msg.id, "deliveredIDs": [user],
                                   "deliveredCount": count}, msg, user)
            if peer is not None:
                note["isPeerDelivered"] = peer
            by_sender.setdefault(msg.sender, []).append(note)
        packets = [{"to": device, "kind": "deliveryAck", "batchID": req["batchID"]}]
        for sender in sorted(by_sender):
            for d in self.devices_of(sender):
                packets.append({"to": d, "kind": "notify",
                                "notifications": by_sender[sender]})
        return {"packets": packets}

    def on_markReports(self, req):
        device = req["device"]
        user = self.device_user.get(device)
        pushes = []
        for r in req["reports"]:
            reg = self.register(user, r["conversationID"])
            t, on = r["markTime"], r["marked"]
            # The newer wins; at one time the unmark.
            if t > reg["markTime"] or (t == reg["markTime"] and reg["marked"] and not on):
                reg["markTime"], reg["marked"] = t, on
                pushes.append({"conversationID": r["conversationID"],
                               "marked": on, "markTime": t})
        packets = [{"to": device, "kind": "markAck", "reports": req["reports"]}]
        if pushes:
            for d in self.devices_of(user):
                if d != device:
                    packets.append({"to": d, "kind": "readPush", "reports": pushes})
        return {"packets": packets}

    def on_sync(self, req):
        # `since` is ignored: everything is sent, with upto 0.
        device = req["device"]
        user = self.device_user.get(device)
        convs = self.conversations.get(user, {})
        packets = []
        for cid in sorted(convs):
            msgs = convs[cid]
            chunks = [msgs[i:i + PART_SIZE] for i in range(0, len(msgs), PART_SIZE)]
            for part, chunk in enumerate(chunks):
                packets.append({"to": device, "kind": "snapshot",
                                "snapshot": self.snapshot(user, cid, chunk),
                                "upto": 0, "part": part, "parts": len(chunks)})
        return {"packets": packets}

    def snapshot(self, user, cid, msgs):
        receipts, self_read = [], []
        for msg in msgs:
            if not msg.need:
                continue
            if msg.sender == user:
                read_count, unread_count = self.figures(msg)
                r = {"messageID": msg.id, "readCount": read_count,
                     "unreadCount": unread_count}
                if msg.group is not None:
                    r["readerIDs"] = sorted(set(msg.readers))
                else:
                    r["isPeerRead"] = read_count == 1
                count, peer = self.delivered_figures(msg)
                r["deliveredIDs"] = self.receivers(msg)
                r["deliveredCount"] = count
                if peer is not None:
                    r["isPeerDelivered"] = peer
                if msg.read_times:
                    r["readTimes"] = [{"userID": u, "readTime": t}
                                      for u, t in sorted(msg.read_times.items())]
                receipts.append(r)
            elif user in msg.readers:
                self_read.append(msg.id)
        snap = {"conversationID": cid, "messages": [m.view(user) for m in msgs],
                "receipts": receipts, "selfRead": self_read}
        # Read positions travel in every part.
        position = self.positions.get(user, {}).get(cid, 0)
        if position > 0:
            snap["readSequence"] = position
        if cid.startswith("C2C"):
            peer_position = self.public.get(cid[3:], {}).get("C2C" + user, 0)
            if peer_position > 0:
                snap["peerReadSequence"] = peer_position
        reg = self.marks.get(user, {}).get(cid)
        if reg is not None:
            if reg["readTime"] > 0:
                snap["readTime"] = reg["readTime"]
            if reg["markTime"] > 0:
                snap["marked"], snap["markTime"] = reg["marked"], reg["markTime"]
        return snap

    def on_join(self, req):
        group = self.groups.setdefault(req["groupID"], Group(None))
        group.join(req["userID"], req["time"])
        return {"packets": []}

    def on_leave(self, req):
        group = self.groups.get(req["groupID"])
        if group is not None:
            group.leave(req["userID"])
        return {"packets": []}

    def on_recall(self, req):
        msg = self.messages.get(req["messageID"])
        if msg is None or msg.recalled:
            return {"packets": []}
        msg.recalled = True     # readers so far stay readers
        # Push the recall to every device of every recipient (a lost push is
        # repaired by the next sync, whose snapshots carry isRevoked too).
        packets = []
        for user in sorted(msg.recipients):
            for d in self.devices_of(user):
                packets.append({"to": d, "kind": "messages", "messages": [msg.view(user)]})
        return {"packets": packets}

    def on_readers(self, req):
        # Read-only: must not change the server.
        out = {}
        for mid in req["messageIDs"]:
            msg = self.messages.get(mid)
            if msg is not None and msg.readers:
                out[mid] = sorted(set(msg.readers))
        return {"readers": out}

    def on_positions(self, req):
        mine = self.positions.get(req["userID"], {})
        return {"positions": {cid: p for cid, p in sorted(mine.items()) if p > 0}}

    def on_peerPositions(self, req):
        mine = self.public.get(req["userID"], {})
        return {"positions": {cid: p for cid, p in sorted(mine.items()) if p > 0}}

    def on_delivered(self, req):
        out = {}
        for mid in req["messageIDs"]:
            msg = self.messages.get(mid)
            if msg is not None and self.receivers(msg):
                out[mid] = self.receivers(msg)
        return {"delivered": out}

    def on_readTimes(self, req):
        out = {}
        for mid in req["messageIDs"]:
            msg = self.messages.get(mid)
            if msg is not None and msg.read_times:
                out[mid] = dict(sorted(msg.read_times.items()))
        return {"readTimes": out}

    def on_marks(self, req):
        mine = self.marks.get(req["userID"], {})
        return {"marks": {cid: dict(r) for cid, r in sorted(mine.items())}}


def serve(server, inp=sys.stdin, out=sys.stdout):
    # readline, not iteration, so no read-ahead ever waits for more input.
    while True:
        line = inp.readline()
        if not line:
            return      # the harness closed stdin: the run is over
        if not line.strip():
            continue
        seq = None
        try:
            req = json.loads(line)
            seq = req.get("seq")
            answer = server.handle(req)
        except Exception as exc:    # report, don't hang: the run ends with the text
            traceback.print_exc(file=sys.stderr)
            answer = {"error": "%s: %s" % (type(exc).__name__, exc)}
        if seq is not None:
            answer["re"] = seq
        out.write(json.dumps(answer, separators=(",", ":")) + "\n")
        out.flush()


if __name__ == "__main__":
    serve(Server())
