//! Comparing clients with the server. While running: no client is ever
//! ahead of the server (soundness). After quiescence: every client holds
//! exactly the messages the server sent its user, with the server's receipt
//! figures, reader and unread member lists and receipt sent states; its
//! outbox is empty; and the last event of each message agrees with its
//! stored state; its unread marks are the server's registers, its own
//! recalled messages keep the figures frozen at the recall, its failed
//! sends look unreceived. Receipt figures are the ones the client shows
//! ([`Client::shown_figures`]: the store's, or with `--mutate lww` its
//! last-writer-wins cache); delivered figures and read times are compared
//! in `delivery_check.rs`.

use std::collections::BTreeSet;

use super::client::{message_list, Client};
use super::delivery_check;
use super::fail::Fail;
use super::ledger::Ledger;
use super::report::{state_name, Counters, Invariant};
use super::seen::Seen;
use super::truth::Truth;
use receiptdb::{Error, MemberFilter, Message};

/// Users by name, as a report shows them: `{u1, u3}`.
fn names(l: &Ledger, users: &BTreeSet<usize>) -> String {
    let v: Vec<&str> = users.iter().map(|&u| l.users[u].as_str()).collect();
    format!("{{{}}}", v.join(", "))
}

/// A count that may not be known yet, as the API's JSON shows it.
fn or_null(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |n| n.to_string())
}

/// Page size for member lists: small, so paging is exercised.
const MEMBER_PAGE: u32 = 3;

fn diverged(detail: String) -> Fail {
    Fail::new(Invariant::Convergence, detail)
}

/// While running, a client may lag behind the server but never lead it: its
/// `readCount` is at most the server's, its `unreadCount` at least the
/// server's (the server's counts only move one way), `isPeerRead` and
/// `acked` only where the server has the reader.
pub(crate) fn soundness(truth: &Truth, cl: &mut Client, c: &mut Counters) -> Result<(), Fail> {
    let l = truth.ledger;
    for conv in l.convs_of(cl.user) {
        let held = held_by(l, cl, &conv);
        for chunk in held.chunks(100) {
            let ids: Vec<String> = chunk.iter().map(|&i| l.msgs[i].id.clone()).collect();
            let list = cl.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list_with(&ids, true, true)
            })?;
            for (m, &idx) in list.iter().zip(chunk) {
                c.soundness_checks += 1;
                let id = &l.msgs[idx].id;
                let readers = truth.readers(idx);
                let ahead = |what: String| {
                    Err(Fail::new(
                        Invariant::Soundness,
                        format!("{id}: {what} (server: readers {})", names(l, readers)),
                    ))
                };
                if let Some(info) = m.read_receipt_info {
                    let shown = cl.lww.shown(id, Seen::of(&info));
                    let (rc, uc, peer) = truth.figures(idx);
                    if shown.read > rc {
                        return ahead(format!("readCount {} > server's {rc}", shown.read));
                    }
                    if shown.unread.is_some_and(|u| u < uc) {
                        return ahead(format!(
                            "unreadCount {} < server's {uc}",
                            or_null(shown.unread)
                        ));
                    }
                    if shown.peer && !peer {
                        return ahead("isPeerRead without the peer's receipt".into());
                    }
                    delivery_check::sound(truth, cl, idx, &info, c)?;
                }
                let acked = m.receipt_sent_state == Some(receiptdb::ReceiptSentState::Acked);
                if acked && !readers.contains(&cl.user) {
                    return ahead("acked, but the server has no receipt from this user".into());
                }
            }
        }
    }
    Ok(())
}

/// The messages of `conv` that client `cl` holds, in send order.
pub(crate) fn held_by(l: &Ledger, cl: &Client, conv: &str) -> Vec<usize> {
    l.view(cl.user, conv)
        .iter()
        .copied()
        .filter(|&i| cl.reads.holds(&l.msgs[i].id))
        .collect()
}

/// Compares every client with the server.
pub(crate) fn final_check(
    truth: &Truth,
    clients: &mut [Client],
    c: &mut Counters,
) -> Result<(), Fail> {
    for cl in clients.iter_mut() {
        check_client(truth, cl, c).map_err(|mut f| {
            f.client = Some(cl.name.clone());
            f
        })?;
    }
    Ok(())
}

fn check_client(truth: &Truth, cl: &mut Client, c: &mut Counters) -> Result<(), Fail> {
    let l = truth.ledger;
    let report = cl.call(c, "verify", |s| s.verify())?;
    if let Some(m) = report.mismatches.first() {
        return Err(Fail::new(
            Invariant::Counters,
            format!(
                "{} of {}: stored {}, recounted {} ({} mismatches)",
                m.check,
                m.subject,
                m.stored,
                m.recounted,
                report.mismatches.len()
            ),
        ));
    }
    let pending = cl.pending(c)?;
    if pending > 0 {
        return Err(diverged(format!(
            "{pending} receipts still pending after quiescence"
        )));
    }
    let more = cl.call(c, "get_pending", |s| s.get_pending(None))?;
    if !more.delivery_batches.is_empty() || !more.mark_reports.is_empty() {
        return Err(diverged(format!(
            "{} delivery batches and {} mark reports still pending after quiescence",
            more.delivery_batches.len(),
            more.mark_reports.len()
        )));
    }
    for conv in l.convs_of(cl.user) {
        let mut held = message_list(cl, &conv, c)?;
        // The device's own failed sends are checked apart (failed.rs).
        held.retain(|m| !cl.fs.holds(&m.id));
        let want: Vec<&str> = l
            .view(cl.user, &conv)
            .iter()
            .map(|&i| l.msgs[i].id.as_str())
            .collect();
        let got: Vec<&str> = held.iter().map(|m| m.id.as_str()).collect();
        if got != want {
            let missing: Vec<&&str> = want.iter().filter(|w| !got.contains(w)).collect();
            let extra: Vec<&&str> = got.iter().filter(|g| !want.contains(g)).collect();
            return Err(diverged(format!(
                "{conv}: messages differ from the server's (missing {missing:?}, extra {extra:?}, order {})",
                if missing.is_empty() && extra.is_empty() { "differs" } else { "-" }
            )));
        }
        check_read_position(truth, cl, &conv, &held, c)?;
        mark_converged(truth, cl, &conv, c)?;
        let ids: Vec<String> = held.iter().map(|m| m.id.clone()).collect();
        let mut infos = Vec::new();
        for chunk in ids.chunks(100) {
            infos.extend(cl.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list_with(chunk, true, true)
            })?);
        }
        for (m, &idx) in infos.iter().zip(l.view(cl.user, &conv)) {
            check_message(truth, cl, m, idx, c)?;
        }
    }
    cl.check_failed(c)
}

/// After quiescence: the conversation shows the unread mark exactly when
/// the server's registers say so (so every device of a user agrees).
fn mark_converged(
    truth: &Truth,
    cl: &mut Client,
    conv: &str,
    c: &mut Counters,
) -> Result<(), Fail> {
    c.mark_checks += 1;
    let reg = truth
        .extra
        .marks
        .get(&(cl.user, conv.to_string()))
        .copied()
        .unwrap_or_default();
    let cv = cl.call(c, "get_conversation", |s| s.get_conversation(conv))?;
    let shown = cl.mk.shown(conv, cv.marked_unread);
    if shown != reg.shows() {
        return Err(Fail::new(
            Invariant::Convergence,
            format!(
                "{conv}: markedUnread {shown}, but the server holds {} at {} and a read to the end at {}",
                if reg.marked { "a mark" } else { "an unmark" },
                reg.mark_time,
                reg.read_time
            ),
        ));
    }
    Ok(())
}

fn check_message(
    truth: &Truth,
    cl: &mut Client,
    m: &Message,
    idx: usize,
    c: &mut Counters,
) -> Result<(), Fail> {
    c.final_checks += 1;
    let l = truth.ledger;
    let sm = &l.msgs[idx];
    let id = &sm.id;
    if m.id != *id
        || m.from != l.users[sm.from]
        || m.time != sm.time
        || m.sequence != sm.seq
        || m.need_read_receipt != sm.receipt
    {
        return Err(diverged(format!(
            "{id}: held as {}/{}/{}/{}/{}, server has {id}/{}/{}/{}/{}",
            m.id,
            m.from,
            m.time,
            m.sequence,
            m.need_read_receipt,
            l.users[sm.from],
            sm.time,
            sm.seq,
            sm.receipt
        )));
    }
    if m.is_revoked != sm.recalled {
        return Err(diverged(format!(
            "{id}: isRevoked {}, but the server {} it",
            m.is_revoked,
            if sm.recalled {
                "recalled"
            } else {
                "never recalled"
            }
        )));
    }
    if !sm.receipt {
        return Ok(());
    }
    if sm.from != cl.user {
        let want = truth.sent_state(idx, cl.user);
        if m.receipt_sent_state != Some(want) {
            return Err(diverged(format!(
                "{id}: receiptSentState {}, server says {}",
                state_name(m.receipt_sent_state),
                state_name(Some(want))
            )));
        }
        return Ok(());
    }
    let (rc, uc, peer) = truth.figures(idx);
    let Some(info) = m.read_receipt_info else {
        return Err(diverged(format!(
            "{id}: no readReceiptInfo on an out message"
        )));
    };
    if sm.recalled {
        // Frozen when the recall arrived, not the server's figures now.
        event_agrees(cl, id, &info)?;
        return final_recalled(cl, id, sm.group.is_some(), c);
    }
    let shown = cl.lww.shown(id, Seen::of(&info));
    if (shown.read, shown.unread, shown.peer) != (rc, Some(uc), peer) {
        return Err(diverged(format!(
            "{id}: readCount {} unreadCount {} isPeerRead {}, server has {rc} {uc} {peer}",
            shown.read,
            or_null(shown.unread),
            shown.peer
        )));
    }
    event_agrees(cl, id, &info)?;
    delivery_check::converged(truth, cl, idx, &info, c)?;
    if sm.group.is_none() {
        return Ok(());
    }
    let mut readers: Vec<String> = l
        .read_list(sm, truth.readers(idx))
        .into_iter()
        .map(|u| l.users[u].clone())
        .collect();
    readers.sort();
    let mut unread: Vec<String> = l
        .unread_list(sm, truth.readers(idx))
        .into_iter()
        .map(|u| l.users[u].clone())
        .collect();
    unread.sort();
    let mut delivered: Vec<String> = l
        .read_list(
            sm,
            &truth
                .delivered(idx)
                .union(truth.readers(idx))
                .copied()
                .collect(),
        )
        .into_iter()
        .map(|u| l.users[u].clone())
        .collect();
    delivered.sort();
    for (filter, want) in [
        (MemberFilter::Read, readers),
        (MemberFilter::Unread, unread),
        (MemberFilter::Delivered, delivered),
    ] {
        let got = member_list(truth, cl, idx, filter, c)?;
        if got != want {
            return Err(diverged(format!(
                "{id}: {filter:?} members {got:?}, server has {want:?}"
            )));
        }
    }
    Ok(())
}

/// After quiescence, an own recalled message: its figures are the ones
/// frozen when the recall arrived, and its member lists are refused.
fn final_recalled(cl: &mut Client, id: &str, group: bool, c: &mut Counters) -> Result<(), Fail> {
    if !cl.rc.froze(id) {
        return Err(Fail::new(
            Invariant::Recalled,
            format!("{id} is recalled, but this device never recorded learning of it"),
        ));
    }
    cl.check_frozen(&[id.to_string()], c)?;
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

/// The last event of message `id` says what the store holds.
fn event_agrees(cl: &Client, id: &str, info: &receiptdb::ReadReceiptInfo) -> Result<(), Fail> {
    let Some(seen) = cl.seen.get(id) else {
        return Ok(());
    };
    if (seen.read, seen.unread, seen.peer)
        == (info.read_count, info.unread_count, info.is_peer_read)
    {
        return Ok(());
    }
    Err(Fail::new(
        Invariant::EventState,
        format!(
            "{id}: last event said {}/{}/{}, the store holds {}/{}/{}",
            seen.read,
            or_null(seen.unread),
            seen.peer,
            info.read_count,
            or_null(info.unread_count),
            info.is_peer_read
        ),
    ))
}

fn member_list(
    truth: &Truth,
    cl: &mut Client,
    idx: usize,
    filter: MemberFilter,
    c: &mut Counters,
) -> Result<Vec<String>, Fail> {
    let id = truth.ledger.msgs[idx].id.as_str();
    let mut out = Vec::new();
    let mut times = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = cl.call(c, "get_group_message_read_member_list", |s| {
            s.get_group_message_read_member_list_with_read_times(id, filter, &cursor, MEMBER_PAGE)
        })?;
        times.extend(page.read_member_list.iter().flatten().cloned());
        if page.is_stale {
            return Err(diverged(format!(
                "{id}: {filter:?} page says isStale at quiescence"
            )));
        }
        out.extend(page.read_user_id_list.unwrap_or_default());
        out.extend(page.unread_user_id_list.unwrap_or_default());
        out.extend(page.delivered_user_id_list.unwrap_or_default());
        if page.is_completed {
            if filter == MemberFilter::Read {
                delivery_check::times_converged(truth, cl, idx, &times, c)?;
            }
            return Ok(out);
        }
        if page.cursor.is_empty() || out.len() > 100_000 {
            return Err(diverged(format!("{id}: member list paging did not end")));
        }
        cursor = page.cursor;
    }
}

/// After quiescence: the conversation shows the server's read position,
/// the unread count that position gives, and (C2C) the peer's position,
/// with `isPeerRead` on exactly the `out` messages at or below it.
fn check_read_position(
    truth: &Truth,
    cl: &mut Client,
    conv: &str,
    held: &[Message],
    c: &mut Counters,
) -> Result<(), Fail> {
    let cv = cl.call(c, "get_conversation", |s| s.get_conversation(conv))?;
    c.final_checks += 1;
    let pos = truth.read_position(cl.user, conv);
    if cv.read_sequence != pos {
        return Err(diverged(format!(
            "{conv}: readSequence {} but the server holds {pos}",
            cv.read_sequence
        )));
    }
    let want = truth.ledger.unread_at(cl.user, conv, pos);
    let got = cl.reported_unread(conv, cv.unread_count);
    if got != want {
        return Err(diverged(format!(
            "{conv}: unreadCount {got} but the server's read position {pos} leaves {want} unread"
        )));
    }
    if let Some(peer) = truth.peer_position(cl.user, conv) {
        let got = cv.peer_read_sequence.unwrap_or(0);
        if got != peer {
            return Err(diverged(format!(
                "{conv}: peerReadSequence {got} but the server holds {peer}"
            )));
        }
        for m in held.iter().filter(|m| m.flow == receiptdb::Flow::Out) {
            if m.is_peer_read != (m.sequence <= peer) {
                return Err(diverged(format!(
                    "{conv}: isPeerRead of {} (sequence {}) is {} with peerReadSequence {peer}",
                    m.id, m.sequence, m.is_peer_read
                )));
            }
        }
    }
    Ok(())
}
