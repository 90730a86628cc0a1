//! The reference server: the authoritative messages, group rosters and
//! per-message readers. It takes receipt batches (idempotently: a repeated
//! receipt changes nothing), tells senders who read what, answers syncs with
//! snapshots (including `selfRead`), and rejects receipts for recalled
//! messages. Everything is kept in ordered maps so runs are deterministic.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{
    ConversationType, GroupType, IncomingMessage, MessageStatus, ReceiptNotification,
    ReceiptSentState, Rejection, Snapshot, SnapshotReceipt,
};

/// The code the server gives a receipt for a recalled message.
pub(crate) const RECALLED: i64 = 20_016;
/// The code for a receipt the server cannot take (unknown message, not a recipient).
pub(crate) const NOT_ALLOWED: i64 = 20_009;
/// Most messages in one snapshot (the store accepts 1000).
const SNAPSHOT_CHUNK: usize = 500;
/// Snapshots remembered per client and conversation, for stale replays.
const HISTORY: usize = 3;

/// A group as the server knows it.
#[derive(Debug, Clone)]
pub(crate) struct SGroup {
    pub id: String,
    pub gtype: GroupType,
    /// Member (user number) → join time (`None`: since the beginning).
    pub members: BTreeMap<usize, Option<i64>>,
}

/// A message as the server knows it.
#[derive(Debug, Clone)]
pub(crate) struct SMsg {
    pub id: String,
    pub group: Option<usize>,
    pub from: usize,
    /// The peer of a one-to-one message.
    pub to: Option<usize>,
    pub time: i64,
    pub seq: i64,
    pub receipt: bool,
    /// Users who were sent the message (its sender included).
    pub recipients: BTreeSet<usize>,
    pub readers: BTreeSet<usize>,
    pub recalled: bool,
    /// The server's version when anything a snapshot says of it last
    /// changed (sent, a reader, its group's roster): syncs send what changed.
    pub version: u64,
}

/// The receipt figures of one message: read count, unread count, peer read.
pub(crate) type Figures = (u64, u64, bool);

/// The server model.
#[derive(Debug)]
pub(crate) struct Server {
    pub users: Vec<String>,
    pub groups: Vec<SGroup>,
    pub msgs: Vec<SMsg>,
    by_id: BTreeMap<String, usize>,
    seqs: BTreeMap<String, i64>,
    /// (user, conversation ID as that user sees it) → message numbers.
    views: BTreeMap<(usize, String), Vec<usize>>,
    /// (client, conversation) → snapshots sent, oldest first.
    history: BTreeMap<(usize, String), Vec<Snapshot>>,
    /// (group, user) → earliest join time of a member who left (PROTOCOL.md, Audience:
    /// leaving keeps a read).
    former: BTreeMap<(usize, usize), Option<i64>>,
    /// (user, conversation as that user sees it) → read position (max of
    /// every read report from any of the user's devices).
    pub read_pos: BTreeMap<(usize, String), i64>,
    /// The version counter (see `SMsg::version`).
    clock: u64,
}

impl Server {
    pub(crate) fn new(users: Vec<String>, groups: Vec<SGroup>) -> Server {
        Server {
            users,
            groups,
            msgs: Vec::new(),
            by_id: BTreeMap::new(),
            seqs: BTreeMap::new(),
            views: BTreeMap::new(),
            history: BTreeMap::new(),
            former: BTreeMap::new(),
            read_pos: BTreeMap::new(),
            clock: 0,
        }
    }

    /// The conversation ID of message `m` in `user`'s store.
    pub(crate) fn conv_for(&self, m: &SMsg, user: usize) -> String {
        match (m.group, m.to) {
            (Some(g), _) => format!("GROUP{}", self.groups[g].id),
            (None, Some(to)) => {
                let other = if user == m.from { to } else { m.from };
                format!("C2C{}", self.users[other])
            }
            (None, None) => String::new(),
        }
    }

    /// Accepts a message from `from` to a group or a user at `time`; `None`
    /// when the sender is not a member of the group.
    pub(crate) fn send(
        &mut self,
        from: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
        time: i64,
    ) -> Option<usize> {
        let (recipients, key) = match (group, to) {
            (Some(g), None) => {
                let grp = self.groups.get(g)?;
                if !grp.members.contains_key(&from) {
                    return None;
                }
                let mut r: BTreeSet<usize> = grp.members.keys().copied().collect();
                r.insert(from);
                (r, format!("GROUP{}", grp.id))
            }
            (None, Some(t)) if t != from && t < self.users.len() => {
                let (a, b) = (from.min(t), from.max(t));
                ([from, t].into_iter().collect(), format!("C2C:{a}:{b}"))
            }
            _ => return None,
        };
        let seq = self.seqs.entry(key).or_insert(0);
        *seq += 1;
        let idx = self.msgs.len();
        let m = SMsg {
            id: format!("m{}", idx + 1),
            group,
            from,
            to,
            time,
            seq: *seq,
            receipt,
            recipients,
            readers: BTreeSet::new(),
            recalled: false,
            version: self.clock + 1,
        };
        self.clock += 1;
        for &u in &m.recipients {
            let conv = self.conv_for(&m, u);
            self.views.entry((u, conv)).or_default().push(idx);
        }
        self.by_id.insert(m.id.clone(), idx);
        self.msgs.push(m);
        Some(idx)
    }

    /// Message `idx` as the transport hands it to `user`'s clients.
    pub(crate) fn incoming(&self, idx: usize, user: usize) -> IncomingMessage {
        let m = &self.msgs[idx];
        let (ctype, to) = match (m.group, m.to) {
            (Some(g), _) => (ConversationType::Group, self.groups[g].id.clone()),
            (None, t) => (ConversationType::C2C, self.users[t.unwrap_or(0)].clone()),
        };
        IncomingMessage {
            id: m.id.clone(),
            conversation_id: Some(self.conv_for(m, user)),
            conversation_type: Some(ctype),
            from: self.users[m.from].clone(),
            to,
            time: m.time,
            sequence: m.seq,
            status: Some(MessageStatus::Success),
            need_read_receipt: m.receipt,
            ..Default::default()
        }
    }

    /// The audience of a message now (PROTOCOL.md, Audience): members who joined by its
    /// time, minus its sender; the peer for one-to-one messages.
    pub(crate) fn audience(&self, m: &SMsg) -> BTreeSet<usize> {
        match (m.group, m.to) {
            (Some(g), _) => self.groups[g]
                .members
                .iter()
                .filter(|(u, jt)| **u != m.from && jt.is_none_or(|t| t <= m.time))
                .map(|(u, _)| *u)
                .collect(),
            (None, Some(t)) => [t].into_iter().collect(),
            (None, None) => BTreeSet::new(),
        }
    }

    /// The read list of a group message by PROTOCOL.md, Audience; PROTOCOL.md, Methods: readers who were
    /// members (now or before they left) by its time, never its sender.
    pub(crate) fn read_list(&self, m: &SMsg) -> BTreeSet<usize> {
        let Some(g) = m.group else {
            return BTreeSet::new();
        };
        let by_time = |jt: &Option<i64>| jt.is_none_or(|t| t <= m.time);
        m.readers
            .iter()
            .filter(|u| **u != m.from)
            .filter(|u| {
                self.groups[g].members.get(u).is_some_and(by_time)
                    || self.former.get(&(g, **u)).is_some_and(by_time)
            })
            .copied()
            .collect()
    }

    /// The unread list of a group message: the audience still in the group
    /// minus the readers.
    pub(crate) fn unread_list(&self, m: &SMsg) -> BTreeSet<usize> {
        self.audience(m)
            .into_iter()
            .filter(|u| !m.readers.contains(u))
            .collect()
    }

    /// The authoritative receipt figures of a message.
    pub(crate) fn figures(&self, m: &SMsg) -> Figures {
        if m.group.is_none() {
            let read = m.to.is_some_and(|t| m.readers.contains(&t));
            return if read { (1, 0, true) } else { (0, 1, false) };
        }
        (
            self.read_list(m).len() as u64,
            self.unread_list(m).len() as u64,
            false,
        )
    }

    /// What `user`'s clients should say about their own receipt for `m`.
    pub(crate) fn sent_state(&self, m: &SMsg, user: usize) -> ReceiptSentState {
        if m.readers.contains(&user) {
            ReceiptSentState::Acked
        } else {
            ReceiptSentState::None
        }
    }

    /// Takes a batch of receipts from `user`: returns the rejections and the
    /// messages that got a new reader. Repeats are accepted and change nothing.
    pub(crate) fn take_receipts(
        &mut self,
        user: usize,
        ids: &[String],
    ) -> (Vec<Rejection>, Vec<usize>) {
        let mut rejected = Vec::new();
        let mut fresh = Vec::new();
        for id in ids {
            let Some(&idx) = self.by_id.get(id) else {
                rejected.push(reject(id, NOT_ALLOWED));
                continue;
            };
            let m = &mut self.msgs[idx];
            if !m.receipt || m.from == user || !m.recipients.contains(&user) {
                rejected.push(reject(id, NOT_ALLOWED));
            } else if m.readers.contains(&user) {
                // A repeat: the server already has it.
            } else if m.recalled {
                rejected.push(reject(id, RECALLED));
            } else {
                m.readers.insert(user);
                self.clock += 1;
                m.version = self.clock;
                fresh.push(idx);
            }
        }
        (rejected, fresh)
    }

    /// The notification the sender's clients get when `reader` read `idx`.
    pub(crate) fn notification(&self, idx: usize, reader: usize) -> ReceiptNotification {
        let m = &self.msgs[idx];
        let (rc, uc, peer) = self.figures(m);
        let mut n = ReceiptNotification {
            message_id: m.id.clone(),
            user_id: Some(self.users[reader].clone()),
            read_count: Some(rc),
            unread_count: Some(uc),
            ..Default::default()
        };
        match m.group {
            Some(g) => n.group_id = Some(self.groups[g].id.clone()),
            None => {
                n.conversation_id = Some(self.conv_for(m, m.from));
                n.is_peer_read = Some(peer);
            }
        }
        n
    }

    /// Conversations `user` has messages in, as that user sees them.
    pub(crate) fn convs_of(&self, user: usize) -> Vec<String> {
        self.views
            .range((user, String::new())..)
            .take_while(|((u, _), _)| *u == user)
            .map(|((_, c), _)| c.clone())
            .collect()
    }

    /// Messages of one conversation as `user` sees them, in send order.
    pub(crate) fn view(&self, user: usize, conv: &str) -> &[usize] {
        self.views
            .get(&(user, conv.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// What changed in one conversation for `user` after version `since`
    /// (0: everything), in chunks the store accepts, and the version it is
    /// complete up to. Always at least one chunk: the read positions travel
    /// in every answer.
    pub(crate) fn snapshots(&self, user: usize, conv: &str, since: u64) -> (Vec<Snapshot>, u64) {
        let changed: Vec<usize> = self
            .view(user, conv)
            .iter()
            .copied()
            .filter(|&i| self.msgs[i].version > since)
            .collect();
        let mut out = Vec::new();
        for chunk in changed.chunks(SNAPSHOT_CHUNK) {
            out.push(self.snapshot_of(user, conv, chunk));
        }
        if out.is_empty() {
            out.push(self.snapshot_of(user, conv, &[]));
        }
        (out, self.clock)
    }

    fn snapshot_of(&self, user: usize, conv: &str, chunk: &[usize]) -> Snapshot {
        let mut snap = Snapshot {
            conversation_id: conv.to_string(),
            ..Default::default()
        };
        for &idx in chunk {
            let m = &self.msgs[idx];
            snap.messages.push(self.incoming(idx, user));
            if m.receipt && m.from == user {
                let (rc, uc, peer) = self.figures(m);
                let group = m.group.is_some();
                snap.receipts.push(SnapshotReceipt {
                    message_id: m.id.clone(),
                    read_count: Some(rc),
                    unread_count: Some(uc),
                    is_peer_read: (!group).then_some(peer),
                    reader_ids: group
                        .then(|| m.readers.iter().map(|r| self.users[*r].clone()).collect()),
                });
            }
            if m.receipt && m.from != user && m.readers.contains(&user) {
                snap.self_read.push(m.id.clone());
            }
        }
        let pos = self.read_position(user, conv);
        snap.read_sequence = (pos > 0).then_some(pos);
        snap.peer_read_sequence = self.peer_position(user, conv).filter(|p| *p > 0);
        snap
    }

    /// A roster change alters the figures of every message of the group.
    fn touch_group(&mut self, g: usize) {
        self.clock += 1;
        let v = self.clock;
        for m in self.msgs.iter_mut().filter(|m| m.group == Some(g)) {
            m.version = v;
        }
    }

    /// `user`'s read position in `conv` (0 when never reported).
    pub(crate) fn read_position(&self, user: usize, conv: &str) -> i64 {
        self.read_pos
            .get(&(user, conv.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// The peer of a C2C conversation `conv` of `user` (`C2Cu<k>`).
    pub(crate) fn c2c_peer(&self, conv: &str) -> Option<usize> {
        let id = conv.strip_prefix("C2C")?;
        self.users.iter().position(|u| u == id)
    }

    /// The C2C peer's read position in `user`'s conversation `conv`; `None`
    /// in groups.
    pub(crate) fn peer_position(&self, user: usize, conv: &str) -> Option<i64> {
        let peer = self.c2c_peer(conv)?;
        Some(self.read_position(peer, &format!("C2C{}", self.users[user])))
    }

    /// Takes a read report from `user`: the position becomes the max of the
    /// old and the reported one. Returns the position now and whether it moved.
    pub(crate) fn take_read_report(&mut self, user: usize, conv: &str, seq: i64) -> (i64, bool) {
        let pos = self.read_pos.entry((user, conv.to_string())).or_insert(0);
        if seq > *pos {
            *pos = seq;
            (seq, true)
        } else {
            (*pos, false)
        }
    }

    /// Unread count of `conv` for `user` by definition: the `in` messages
    /// (all have `status: success`) above the read position.
    pub(crate) fn unread_of(&self, user: usize, conv: &str) -> u64 {
        let pos = self.read_position(user, conv);
        self.view(user, conv)
            .iter()
            .filter(|&&i| self.msgs[i].from != user && self.msgs[i].seq > pos)
            .count() as u64
    }

    /// Remembers a snapshot sent to `client`, for later stale replays.
    pub(crate) fn remember(&mut self, client: usize, snap: &Snapshot) {
        let h = self
            .history
            .entry((client, snap.conversation_id.clone()))
            .or_default();
        if h.len() >= HISTORY {
            h.remove(1); // keep the very first one: the stalest
        }
        h.push(snap.clone());
    }

    /// The oldest remembered snapshot of each conversation of `client`.
    pub(crate) fn oldest_snapshots(&self, client: usize) -> Vec<Snapshot> {
        self.history
            .range((client, String::new())..)
            .take_while(|((c, _), _)| *c == client)
            .filter_map(|(_, h)| h.first().cloned())
            .collect()
    }

    /// An old snapshot of `conv` for `client`, if one older than the newest exists.
    pub(crate) fn old_snapshot(&self, client: usize, conv: &str, pick: usize) -> Option<Snapshot> {
        let h = self.history.get(&(client, conv.to_string()))?;
        h.get(pick % h.len()).cloned()
    }

    /// Recalls message `idx`; false when it already was.
    pub(crate) fn recall(&mut self, idx: usize) -> bool {
        match self.msgs.get_mut(idx) {
            Some(m) if !m.recalled => {
                m.recalled = true;
                true
            }
            _ => false,
        }
    }

    /// Adds `user` to group `g` at `time`; false when already a member.
    pub(crate) fn join(&mut self, g: usize, user: usize, time: i64) -> bool {
        match self.groups.get_mut(g) {
            Some(grp) if !grp.members.contains_key(&user) => {
                grp.members.insert(user, Some(time));
                self.touch_group(g);
                true
            }
            _ => false,
        }
    }

    /// Removes `user` from group `g`; false when not a member or when the
    /// group would drop below two members.
    pub(crate) fn leave(&mut self, g: usize, user: usize) -> bool {
        match self.groups.get_mut(g) {
            Some(grp) if grp.members.len() > 2 => match grp.members.remove(&user) {
                Some(jt) => {
                    let kept = self.former.entry((g, user)).or_insert(jt);
                    *kept = match (*kept, jt) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        _ => None,
                    };
                    self.touch_group(g);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

fn reject(id: &str, code: i64) -> Rejection {
    Rejection {
        message_id: id.to_string(),
        code,
    }
}
