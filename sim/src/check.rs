//! Comparing clients with the server. While running: no client is ever
//! ahead of the server (soundness). After quiescence: every client holds
//! exactly the messages the server sent its user, with the server's receipt
//! figures, reader and unread member lists and receipt sent states; its
//! outbox is empty; and the last event of each message agrees with its
//! stored state. Receipt figures are the ones the client shows
//! ([`Client::shown_figures`]: the store's, or with `--mutate lww` its
//! last-writer-wins cache).

use super::client::{message_list, Client, Fail, Seen};
use super::report::{Counters, Invariant};
use super::server::Server;
use receiptdb::{MemberFilter, Message};

/// Page size for member lists: small, so paging is exercised.
const MEMBER_PAGE: u32 = 3;

/// A message's receipt figures as the store holds them.
fn seen_of(info: &receiptdb::ReadReceiptInfo) -> Seen {
    Seen {
        read: info.read_count,
        unread: info.unread_count,
        peer: info.is_peer_read,
    }
}

fn diverged(detail: String) -> Fail {
    Fail::new(Invariant::Convergence, detail)
}

/// While running, a client may lag behind the server but never lead it: its
/// `readCount` is at most the server's, its `unreadCount` at least the
/// server's (the server's counts only move one way), `isPeerRead` and
/// `acked` only where the server has the reader.
pub(crate) fn soundness(server: &Server, cl: &mut Client, c: &mut Counters) -> Result<(), Fail> {
    for conv in server.convs_of(cl.user) {
        let held: Vec<usize> = server
            .view(cl.user, &conv)
            .iter()
            .copied()
            .filter(|&i| cl.holds(&server.msgs[i].id))
            .collect();
        for chunk in held.chunks(100) {
            let ids: Vec<String> = chunk.iter().map(|&i| server.msgs[i].id.clone()).collect();
            let list = cl.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list(&ids)
            })?;
            for (m, &idx) in list.iter().zip(chunk) {
                c.soundness_checks += 1;
                let sm = &server.msgs[idx];
                let id = &sm.id;
                let ahead = |what: String| {
                    Err(Fail::new(
                        Invariant::Soundness,
                        format!("{id}: {what} (server: readers {:?})", sm.readers),
                    ))
                };
                if let Some(info) = m.read_receipt_info {
                    let shown = cl.shown_figures(id, seen_of(&info));
                    let (rc, uc, peer) = server.figures(sm);
                    if shown.read > rc {
                        return ahead(format!("readCount {} > server's {rc}", shown.read));
                    }
                    if shown.unread.is_some_and(|u| u < uc) {
                        return ahead(format!("unreadCount {:?} < server's {uc}", shown.unread));
                    }
                    if shown.peer && !peer {
                        return ahead("isPeerRead without the peer's receipt".into());
                    }
                }
                let acked = m.receipt_sent_state == Some(receiptdb::ReceiptSentState::Acked);
                if acked && !sm.readers.contains(&cl.user) {
                    return ahead("acked, but the server has no receipt from this user".into());
                }
            }
        }
    }
    Ok(())
}

/// Compares every client with the server.
pub(crate) fn final_check(
    server: &Server,
    clients: &mut [Client],
    c: &mut Counters,
) -> Result<(), Fail> {
    for cl in clients.iter_mut() {
        check_client(server, cl, c).map_err(|mut f| {
            f.client = Some(cl.name.clone());
            f
        })?;
    }
    Ok(())
}

fn check_client(server: &Server, cl: &mut Client, c: &mut Counters) -> Result<(), Fail> {
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
    for conv in server.convs_of(cl.user) {
        let held = message_list(cl, &conv, c)?;
        let want: Vec<&str> = server
            .view(cl.user, &conv)
            .iter()
            .map(|&i| server.msgs[i].id.as_str())
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
        check_read_position(server, cl, &conv, &held, c)?;
        let ids: Vec<String> = held.iter().map(|m| m.id.clone()).collect();
        let mut infos = Vec::new();
        for chunk in ids.chunks(100) {
            infos.extend(cl.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list(chunk)
            })?);
        }
        for (m, &idx) in infos.iter().zip(server.view(cl.user, &conv)) {
            check_message(server, cl, m, idx, c)?;
        }
    }
    Ok(())
}

fn check_message(
    server: &Server,
    cl: &mut Client,
    m: &Message,
    idx: usize,
    c: &mut Counters,
) -> Result<(), Fail> {
    c.final_checks += 1;
    let sm = &server.msgs[idx];
    let id = &sm.id;
    if m.id != *id
        || m.from != server.users[sm.from]
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
            server.users[sm.from],
            sm.time,
            sm.seq,
            sm.receipt
        )));
    }
    if !sm.receipt {
        return Ok(());
    }
    if sm.from != cl.user {
        let want = server.sent_state(sm, cl.user);
        if m.receipt_sent_state != Some(want) {
            return Err(diverged(format!(
                "{id}: receiptSentState {:?}, server says {want:?}",
                m.receipt_sent_state
            )));
        }
        return Ok(());
    }
    let (rc, uc, peer) = server.figures(sm);
    let Some(info) = m.read_receipt_info else {
        return Err(diverged(format!(
            "{id}: no readReceiptInfo on an out message"
        )));
    };
    let shown = cl.shown_figures(id, seen_of(&info));
    if (shown.read, shown.unread, shown.peer) != (rc, Some(uc), peer) {
        return Err(diverged(format!(
            "{id}: readCount {} unreadCount {:?} isPeerRead {}, server has {rc} {uc} {peer}",
            shown.read, shown.unread, shown.peer
        )));
    }
    if let Some(seen) = cl.seen.get(id) {
        if (seen.read, seen.unread, seen.peer)
            != (info.read_count, info.unread_count, info.is_peer_read)
        {
            return Err(Fail::new(
                Invariant::EventState,
                format!(
                    "{id}: last event said {}/{:?}/{}, the store holds {}/{:?}/{}",
                    seen.read,
                    seen.unread,
                    seen.peer,
                    info.read_count,
                    info.unread_count,
                    info.is_peer_read
                ),
            ));
        }
    }
    if sm.group.is_none() {
        return Ok(());
    }
    let mut readers: Vec<String> = server
        .read_list(sm)
        .into_iter()
        .map(|u| server.users[u].clone())
        .collect();
    readers.sort();
    let mut unread: Vec<String> = server
        .unread_list(sm)
        .into_iter()
        .map(|u| server.users[u].clone())
        .collect();
    unread.sort();
    for (filter, want) in [
        (MemberFilter::Read, readers),
        (MemberFilter::Unread, unread),
    ] {
        let got = member_list(cl, id, filter, c)?;
        if got != want {
            return Err(diverged(format!(
                "{id}: {filter:?} members {got:?}, server has {want:?}"
            )));
        }
    }
    Ok(())
}

fn member_list(
    cl: &mut Client,
    id: &str,
    filter: MemberFilter,
    c: &mut Counters,
) -> Result<Vec<String>, Fail> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = cl.call(c, "get_group_message_read_member_list", |s| {
            s.get_group_message_read_member_list(id, filter, &cursor, MEMBER_PAGE)
        })?;
        if page.is_stale {
            return Err(diverged(format!(
                "{id}: {filter:?} page says isStale at quiescence"
            )));
        }
        out.extend(page.read_user_id_list.unwrap_or_default());
        out.extend(page.unread_user_id_list.unwrap_or_default());
        if page.is_completed {
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
    server: &Server,
    cl: &mut Client,
    conv: &str,
    held: &[Message],
    c: &mut Counters,
) -> Result<(), Fail> {
    let cv = cl.call(c, "get_conversation", |s| s.get_conversation(conv))?;
    c.final_checks += 1;
    let pos = server.read_position(cl.user, conv);
    if cv.read_sequence != pos {
        return Err(diverged(format!(
            "{conv}: readSequence {} but the server holds {pos}",
            cv.read_sequence
        )));
    }
    let want = server.unread_of(cl.user, conv);
    let got = cl.reported_unread(conv, cv.unread_count);
    if got != want {
        return Err(diverged(format!(
            "{conv}: unreadCount {got} but the server's read position {pos} leaves {want} unread"
        )));
    }
    if let Some(peer) = server.peer_position(cl.user, conv) {
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
