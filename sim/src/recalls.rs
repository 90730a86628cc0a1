//! Recalls as the clients see them (PROTOCOL.md, Recalled messages): the
//! server pushes each recall (`isRevoked: true` on a save) to the devices
//! of the message's recipients and marks it in every later snapshot. A
//! device records the receipt figures of its own recalled messages when
//! it learns of the recall; later notifications, snapshots and membership
//! changes must leave them exactly so. A receipt for a recalled message is
//! `MESSAGE_RECALLED`, which the read path takes as expected: it drops the
//! recalled messages and sends the rest. `--mutate recall-thaw` plants the
//! bug of a client whose displayed figures keep taking later news.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{
    Error, IncomingMessage, MemberFilter, ReadReceiptInfo, ReceiptNotification, SendReport,
    Snapshot,
};

use super::client::{Client, Fail, Seen};
use super::report::{Counters, Invariant};

type R<T> = std::result::Result<T, Fail>;

/// What one device knows of recalls.
#[derive(Debug, Default)]
pub(crate) struct RecallClient {
    /// Messages this device was told are recalled (kept across crashes:
    /// the store keeps the flag once the save returned).
    revoked: BTreeSet<String>,
    /// Own recalled messages that need a receipt: conversation and the
    /// figures the store held when the recall arrived.
    frozen: BTreeMap<String, (String, ReadReceiptInfo)>,
    /// `--mutate recall-thaw`: the figures shown for recalled messages
    /// keep joining what arrives later.
    pub thaw: bool,
    shown: BTreeMap<String, Seen>,
}

impl RecallClient {
    /// Whether this device was told `id` is recalled.
    pub fn knows(&self, id: &str) -> bool {
        self.revoked.contains(id)
    }

    /// A packet's figures for a recalled message reach the thawed display.
    fn thaw_with(&mut self, id: &str, read: Option<u64>, unread: Option<u64>, peer: Option<bool>) {
        let Some((_, info)) = self.frozen.get(id).filter(|_| self.thaw) else {
            return;
        };
        let old = self.shown.get(id).copied().unwrap_or_else(|| seen_of(info));
        let unread = match (old.unread, unread) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let new = Seen {
            read: old.read.max(read.unwrap_or(0)),
            unread,
            peer: old.peer || peer.unwrap_or(false),
        };
        self.shown.insert(id.to_string(), new);
    }
}

fn seen_of(info: &ReadReceiptInfo) -> Seen {
    Seen {
        read: info.read_count,
        unread: info.unread_count,
        peer: info.is_peer_read,
    }
}

fn figures(s: &Seen) -> String {
    let unread = s.unread.map_or_else(|| "null".into(), |u| u.to_string());
    format!(
        "readCount {}, unreadCount {unread}, isPeerRead {}",
        s.read, s.peer
    )
}

/// Messages a save or snapshot just told this device are recalled: each
/// is recorded, and the figures of its own ones frozen as they are now.
pub(crate) fn learned(cl: &mut Client, msgs: &[IncomingMessage], c: &mut Counters) -> R<()> {
    let mut own: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in msgs.iter().filter(|m| m.is_revoked) {
        if !cl.rc.revoked.insert(m.id.clone()) {
            continue;
        }
        c.recalls_learned += 1;
        if m.from == cl.user_id && m.need_read_receipt {
            let conv = m.conversation_id.clone().unwrap_or_default();
            own.entry(conv).or_default().push(m.id.clone());
        }
    }
    for (conv, ids) in own {
        let list = cl.call(c, "get_message_read_receipt_list", |s| {
            s.get_message_read_receipt_list_with(&ids, true, true)
        })?;
        for m in list {
            if let Some(info) = m.read_receipt_info {
                cl.rc.frozen.insert(m.id, (conv.clone(), info));
            }
        }
    }
    Ok(())
}

/// After notifications: recalled messages they name keep their figures.
pub(crate) fn after_notes(cl: &mut Client, ns: &[ReceiptNotification], c: &mut Counters) -> R<()> {
    let mut ids = Vec::new();
    for n in ns {
        if cl.rc.frozen.contains_key(&n.message_id) {
            cl.rc
                .thaw_with(&n.message_id, n.read_count, n.unread_count, n.is_peer_read);
            ids.push(n.message_id.clone());
        }
    }
    check_frozen(cl, &ids, c)
}

/// After a snapshot: recalls it brings are learned; recalled messages it
/// carries figures for keep theirs.
pub(crate) fn after_snapshot(cl: &mut Client, snap: &Snapshot, c: &mut Counters) -> R<()> {
    // Known before this snapshot: what it brings must not move them.
    let ids: Vec<String> = snap
        .receipts
        .iter()
        .filter(|r| cl.rc.frozen.contains_key(&r.message_id))
        .map(|r| r.message_id.clone())
        .collect();
    for r in &snap.receipts {
        if cl.rc.frozen.contains_key(&r.message_id) {
            cl.rc
                .thaw_with(&r.message_id, r.read_count, r.unread_count, r.is_peer_read);
        }
    }
    learned(cl, &snap.messages, c)?;
    check_frozen(cl, &ids, c)
}

/// Every recalled message this device froze still shows those figures.
pub(crate) fn check_all(cl: &mut Client, c: &mut Counters) -> R<()> {
    let ids: Vec<String> = cl.rc.frozen.keys().cloned().collect();
    check_frozen(cl, &ids, c)
}

/// The figures of these recalled messages (shown, and the store's in
/// full: delivered figures and read time too) are the frozen ones.
fn check_frozen(cl: &mut Client, ids: &[String], c: &mut Counters) -> R<()> {
    let mut by_conv: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in ids {
        if let Some((conv, _)) = cl.rc.frozen.get(id) {
            let v = by_conv.entry(conv.clone()).or_default();
            if !v.contains(id) {
                v.push(id.clone());
            }
        }
    }
    for (_, ids) in by_conv {
        for chunk in ids.chunks(100) {
            let list = cl.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list_with(chunk, true, true)
            })?;
            for m in &list {
                c.frozen_checks += 1;
                let (Some(info), Some((_, want))) = (m.read_receipt_info, cl.rc.frozen.get(&m.id))
                else {
                    continue;
                };
                let shown = match cl.rc.shown.get(&m.id) {
                    Some(s) if cl.rc.thaw => *s,
                    _ => seen_of(&info),
                };
                let thawed = shown != seen_of(want) || (!cl.rc.thaw && info != *want);
                if thawed {
                    return Err(Fail::new(
                        Invariant::Recalled,
                        format!(
                            "{} is recalled: its figures moved after the recall reached this device, from {} (delivered {:?}, readTime {:?}) to {} (delivered {:?}, readTime {:?})",
                            m.id,
                            figures(&seen_of(want)),
                            want.delivered_count,
                            want.read_time,
                            figures(&shown),
                            info.delivered_count,
                            info.read_time
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `sendMessageReadReceipt` for `ask`, with `MESSAGE_RECALLED` taken as
/// expected: it must name a message this device knows is recalled; the
/// receipts for the others are sent again without the recalled ones.
/// Nothing queued may be a known recall.
pub(crate) fn send_receipts(cl: &mut Client, ask: &[String], c: &mut Counters) -> R<SendReport> {
    let first = cl.call_raw(c, "send_message_read_receipt", |s| {
        s.send_message_read_receipt_report(ask)
    })?;
    let rep = match first {
        Ok(rep) => rep,
        Err(Error::MessageRecalled(text)) => {
            c.recall_refusals += 1;
            if !ask
                .iter()
                .any(|id| cl.rc.knows(id) && text.contains(id.as_str()))
            {
                return Err(Fail::new(
                    Invariant::Recalled,
                    format!("sendMessageReadReceipt {ask:?} answered MESSAGE_RECALLED ({text}), but this device was never told that message was recalled"),
                ));
            }
            let rest: Vec<String> = ask.iter().filter(|id| !cl.rc.knows(id)).cloned().collect();
            if rest.is_empty() {
                return Ok(SendReport::default());
            }
            cl.call(c, "send_message_read_receipt", |s| {
                s.send_message_read_receipt_report(&rest)
            })?
        }
        Err(e) => {
            return Err(Fail::new(
                Invariant::StoreError,
                format!("send_message_read_receipt failed: {} ({e})", e.name()),
            ))
        }
    };
    if let Some(id) = rep.queued.iter().find(|id| cl.rc.knows(id)) {
        return Err(Fail::new(
            Invariant::Recalled,
            format!("sendMessageReadReceipt queued a receipt for {id}, which this device knows is recalled"),
        ));
    }
    Ok(rep)
}

/// After quiescence, an own recalled message: its figures are the ones
/// frozen when the recall arrived, and its member lists are refused.
pub(crate) fn final_recalled(cl: &mut Client, id: &str, group: bool, c: &mut Counters) -> R<()> {
    if !cl.rc.frozen.contains_key(id) {
        return Err(Fail::new(
            Invariant::Recalled,
            format!("{id} is recalled, but this device never recorded learning of it"),
        ));
    }
    check_frozen(cl, &[id.to_string()], c)?;
    if !group {
        return Ok(());
    }
    let r = cl.call_raw(c, "get_group_message_read_member_list", |s| {
        s.get_group_message_read_member_list(id, MemberFilter::Read, "", 3)
    })?;
    match r {
        Err(Error::MessageRecalled(_)) => Ok(()),
        other => Err(Fail::new(
            Invariant::Recalled,
            format!(
                "{id} is recalled, yet its read member list answered {}",
                match other {
                    Ok(_) => "a page".to_string(),
                    Err(e) => e.name().to_string(),
                }
            ),
        )),
    }
}
