//! The simulated network: packets between the server and the clients, with
//! seeded delay, reordering, duplication, loss and partitions. Links are FIFO
//! unless a packet is picked for reordering.

use std::collections::BTreeMap;

use super::rng::Rng;
use super::trace::{note, Trace};
use receiptdb::{
    IncomingMessage, MarkReport, PushedReadReport, ReadReport, ReceiptNotification, Rejection,
    Snapshot,
};
use serde_json::{json, Value};

/// An end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Node {
    Server,
    Client(usize),
}

/// What a packet carries.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// Server → client: messages to save.
    Messages(Vec<IncomingMessage>),
    /// Server → client: pushed receipt notifications.
    Notify(Vec<ReceiptNotification>),
    /// Server → client: a sync snapshot (fresh, or a stale replay); a
    /// fresh one says which part of which sync it is, so the client knows
    /// when it holds everything up to the sync's version.
    Snapshot(Box<Snapshot>, Option<SyncPart>),
    /// Server → client: the answer to a receipt batch.
    Ack {
        batch_id: String,
        rejected: Vec<Rejection>,
    },
    /// Client → server: a batch of receipts.
    Receipts { batch_id: String, ids: Vec<String> },
    /// Client → server: please send snapshots of all my conversations,
    /// with what changed after the version given per conversation (absent: all).
    SyncRequest(BTreeMap<String, u64>),
    /// Client → server: the read reports `getPendingReceipts` handed out.
    ReadReports(Vec<ReadReport>),
    /// Server → client: the positions the server now holds for those reports.
    ReadAck(Vec<ReadReport>),
    /// Server → client: read positions pushed from the user's other devices
    /// (`readSequence`) or from the C2C peer (`peerReadSequence`).
    ReadPush(Vec<PushedReadReport>),
    /// Client → server: a batch of delivery acks (`d<n>`).
    Deliveries { batch_id: String, ids: Vec<String> },
    /// Server → client: the answer to a delivery batch.
    DeliveryAck(String),
    /// Client → server: the pending unread marks.
    MarkReports(Vec<MarkReport>),
    /// Server → client: the marks the server now holds.
    MarkAck(Vec<MarkReport>),
}

/// Part `part` of `parts` of one conversation's answer to a sync: once a
/// client applied every part, it holds the conversation up to `upto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncPart {
    pub upto: u64,
    pub part: usize,
    pub parts: usize,
}

/// A packet in flight.
#[derive(Debug, Clone)]
pub(crate) struct Packet {
    pub src: Node,
    pub dst: Node,
    pub payload: Payload,
}

/// Fault rates the network applies (zero when a kind is off).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NetConfig {
    pub max_delay: u64,
    pub reorder: f64,
    pub duplicate: f64,
    pub drop: f64,
}

/// What the network did, for the report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NetStats {
    pub sent: u64,
    pub delivered: u64,
    pub delayed: u64,
    pub reordered: u64,
    pub duplicated: u64,
    pub dropped: u64,
    pub partitioned: u64,
}

/// Packets in flight, keyed by (delivery step, send order).
#[derive(Debug)]
pub(crate) struct Network {
    /// (delivery step, order) → (packet number, packet).
    queue: BTreeMap<(u64, u64), (u64, Packet)>,
    seq: u64,
    link_last: BTreeMap<(Node, Node), u64>,
    /// Client → first step it is reachable again.
    cut_until: BTreeMap<usize, u64>,
    rng: Rng,
    pub cfg: NetConfig,
    pub stats: NetStats,
    /// Where sends and deliveries are traced (when tracing).
    pub trace: Trace,
    /// Why the packets sent now are sent, and the server request they
    /// answer (for the trace's cause chain).
    pub cause: (String, Option<u64>),
}

impl Network {
    pub(crate) fn new(rng: Rng, cfg: NetConfig) -> Network {
        Network {
            queue: BTreeMap::new(),
            seq: 0,
            link_last: BTreeMap::new(),
            cut_until: BTreeMap::new(),
            rng,
            cfg,
            stats: NetStats::default(),
            trace: None,
            cause: (String::new(), None),
        }
    }

    fn client_of(p: &Packet) -> Option<usize> {
        match (p.src, p.dst) {
            (Node::Client(c), _) | (_, Node::Client(c)) => Some(c),
            _ => None,
        }
    }

    /// Whether `client` is cut off from the server at step `now`.
    pub(crate) fn is_cut(&self, client: usize, now: u64) -> bool {
        self.cut_until.get(&client).is_some_and(|&t| now < t)
    }

    fn cut(&self, p: &Packet, now: u64) -> bool {
        Network::client_of(p).is_some_and(|c| self.is_cut(c, now))
    }

    /// Sends a packet at step `now`: it may be lost, duplicated, delayed or
    /// reordered as configured.
    pub(crate) fn send(&mut self, now: u64, p: Packet) {
        self.send_after(now, 0, p);
    }

    /// Like [`Network::send`], with `extra` steps of delay on top.
    pub(crate) fn send_after(&mut self, now: u64, extra: u64, p: Packet) {
        self.stats.sent += 1;
        let id = self.stats.sent;
        note(&self.trace, || {
            let mut e = describe(&p.payload);
            e["kind"] = "send".into();
            e["step"] = now.into();
            e["packet"] = id.into();
            e["from"] = node_name(p.src).into();
            e["to"] = node_name(p.dst).into();
            e["cause"] = self.cause.0.clone().into();
            e["request"] = self.cause.1.into();
            e
        });
        let lost = |t: &Trace, why: &str| {
            note(
                t,
                || json!({"kind": "lost", "step": now, "packet": id, "why": why}),
            );
        };
        if self.cut(&p, now) {
            self.stats.partitioned += 1;
            lost(&self.trace, "partition");
            return;
        }
        if self.rng.chance(self.cfg.drop) {
            self.stats.dropped += 1;
            lost(&self.trace, "dropped");
            return;
        }
        if self.rng.chance(self.cfg.duplicate) {
            self.stats.duplicated += 1;
            note(
                &self.trace,
                || json!({"kind": "duplicate", "step": now, "packet": id}),
            );
            self.enqueue(now, extra, id, p.clone());
        }
        self.enqueue(now, extra, id, p);
    }

    fn enqueue(&mut self, now: u64, extra: u64, id: u64, p: Packet) {
        let delay = self.rng.range(1, self.cfg.max_delay.max(1));
        if delay > 1 {
            self.stats.delayed += 1;
        }
        let mut at = now + delay + extra;
        if self.rng.chance(self.cfg.reorder) {
            self.stats.reordered += 1;
        } else {
            let last = self.link_last.entry((p.src, p.dst)).or_insert(0);
            at = at.max(*last);
            *last = at;
        }
        self.seq += 1;
        note(
            &self.trace,
            || json!({"kind": "queued", "step": now, "packet": id, "at": at, "delayed": delay > 1}),
        );
        self.queue.insert((at, self.seq), (id, p));
    }

    /// Takes every packet due by step `now`, in delivery order, with its
    /// number; packets to or from a client cut off now are lost.
    pub(crate) fn due(&mut self, now: u64) -> Vec<(u64, Packet)> {
        let later = self.queue.split_off(&(now + 1, 0));
        let due = std::mem::replace(&mut self.queue, later);
        let mut out = Vec::with_capacity(due.len());
        for (_, (id, p)) in due {
            if self.cut(&p, now) {
                self.stats.partitioned += 1;
                note(
                    &self.trace,
                    || json!({"kind": "lost", "step": now, "packet": id, "why": "partition"}),
                );
            } else {
                self.stats.delivered += 1;
                note(&self.trace, || {
                    let mut e = describe(&p.payload);
                    e["kind"] = "deliver".into();
                    e["step"] = now.into();
                    e["packet"] = id.into();
                    e["from"] = node_name(p.src).into();
                    e["to"] = node_name(p.dst).into();
                    e
                });
                out.push((id, p));
            }
        }
        out
    }

    /// Nothing in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Cuts `clients` off from the server until step `until`.
    pub(crate) fn partition(&mut self, clients: &[usize], until: u64) {
        for &c in clients {
            let t = self.cut_until.entry(c).or_insert(0);
            *t = (*t).max(until);
        }
    }

    /// Ends every partition.
    pub(crate) fn heal(&mut self) {
        self.cut_until.clear();
    }
}

/// A node's name in the trace: `server` or `c3`.
pub(crate) fn node_name(n: Node) -> String {
    match n {
        Node::Server => "server".into(),
        Node::Client(i) => format!("c{i}"),
    }
}

/// What a packet carries, short: its kind and the messages and
/// conversations it names (what the cause chain searches).
pub(crate) fn describe(p: &Payload) -> Value {
    match p {
        Payload::Messages(ms) => {
            json!({"what": "messages", "messages": ms.iter().map(|m| &m.id).collect::<Vec<_>>()})
        }
        Payload::Notify(ns) => {
            json!({"what": "notify", "messages": ns.iter().map(|n| &n.message_id).collect::<Vec<_>>(),
            "figures": ns.iter().map(|n| json!([n.message_id, n.read_count, n.unread_count, n.user_id])).collect::<Vec<_>>()})
        }
        Payload::Snapshot(s, part) => {
            json!({"what": if part.is_some() { "snapshot" } else { "stale snapshot" },
            "conversations": [s.conversation_id],
            "messages": s.messages.iter().map(|m| &m.id).collect::<Vec<_>>(),
            "figures": s.receipts.iter().map(|r| json!([r.message_id, r.read_count, r.unread_count])).collect::<Vec<_>>(),
            "readSequence": s.read_sequence, "peerReadSequence": s.peer_read_sequence})
        }
        Payload::Ack { batch_id, rejected } => json!({"what": "ack", "batchID": batch_id,
            "messages": rejected.iter().map(|r| &r.message_id).collect::<Vec<_>>()}),
        Payload::Receipts { batch_id, ids } => {
            json!({"what": "receipts", "batchID": batch_id, "messages": ids})
        }
        Payload::SyncRequest(since) => {
            json!({"what": "sync request", "conversations": since.keys().collect::<Vec<_>>()})
        }
        Payload::ReadReports(rs) => json!({"what": "read reports",
            "conversations": rs.iter().map(|r| &r.conversation_id).collect::<Vec<_>>(),
            "positions": rs.iter().map(|r| r.read_sequence).collect::<Vec<_>>()}),
        Payload::ReadAck(rs) => json!({"what": "read ack",
            "conversations": rs.iter().map(|r| &r.conversation_id).collect::<Vec<_>>(),
            "positions": rs.iter().map(|r| r.read_sequence).collect::<Vec<_>>()}),
        Payload::ReadPush(rs) => json!({"what": "read push",
            "conversations": rs.iter().map(|r| &r.conversation_id).collect::<Vec<_>>()}),
        Payload::Deliveries { batch_id, ids } => {
            json!({"what": "deliveries", "batchID": batch_id, "messages": ids})
        }
        Payload::DeliveryAck(b) => json!({"what": "delivery ack", "batchID": b}),
        Payload::MarkReports(rs) | Payload::MarkAck(rs) => json!({
            "what": if matches!(p, Payload::MarkAck(_)) { "mark ack" } else { "mark reports" },
            "conversations": rs.iter().map(|r| &r.conversation_id).collect::<Vec<_>>()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(c: usize) -> Packet {
        Packet {
            src: Node::Server,
            dst: Node::Client(c),
            payload: Payload::SyncRequest(BTreeMap::new()),
        }
    }

    #[test]
    fn fifo_without_reorder_and_partitions_lose_packets() {
        let cfg = NetConfig {
            max_delay: 5,
            ..Default::default()
        };
        let mut n = Network::new(Rng::new(1, 1), cfg);
        for i in 0..50 {
            n.send(i / 10, pkt(i as usize % 2));
        }
        let mut got = Vec::new();
        for now in 0..100 {
            got.extend(n.due(now));
        }
        assert_eq!(got.len(), 50);
        assert!(n.is_empty());
        n.partition(&[1], 10);
        n.send(5, pkt(1));
        n.send(5, pkt(0));
        let mut got = Vec::new();
        for now in 5..20 {
            got.extend(n.due(now));
        }
        assert_eq!(got.len(), 1);
        assert_eq!(n.stats.partitioned, 1);
    }
}
