//! Delivered figures and read times against the server (PROTOCOL.md,
//! Delivered and read, Read times): while running a client is never ahead
//! of the server nor behind its own reads; after quiescence it shows the
//! server's figures and read times. The device's own side is `delivery.rs`.

use std::collections::BTreeSet;

use receiptdb::{ReadReceiptInfo, ReaderAt};

use super::client::Client;
use super::delivery::Delivered;
use super::fail::Fail;
use super::report::{Counters, Invariant};
use super::truth::Truth;

/// While running, an `out` message's delivered figures are never ahead of
/// the server (a count at most the server's, the peer only once the
/// server has them) nor behind its own reads (delivered ⊇ read), never go
/// back, and (C2C) the peer's read time is never before the server's.
pub(crate) fn sound(
    truth: &Truth,
    cl: &mut Client,
    idx: usize,
    info: &ReadReceiptInfo,
    c: &mut Counters,
) -> Result<(), Fail> {
    c.delivery_checks += 1;
    let l = truth.ledger;
    let m = &l.msgs[idx];
    let id = &m.id;
    let ahead = |what: String| Err(Fail::new(Invariant::Soundness, format!("{id}: {what}")));
    let store = Delivered::of(info);
    if store.count < info.read_count || (info.is_peer_read && !store.peer) {
        return ahead(format!(
            "delivered {}/{} below its reads {}/{}",
            store.count, store.peer, info.read_count, info.is_peer_read
        ));
    }
    let (want_count, want_peer) = server_delivered(truth, idx);
    let shown = cl.del.shown(id, store);
    if shown.count > want_count {
        return ahead(format!(
            "deliveredCount {} > server's {want_count}",
            shown.count
        ));
    }
    if shown.peer && !want_peer {
        return ahead("isPeerDelivered before the server had the peer's delivery".into());
    }
    let peer_time =
        m.to.zip(info.read_time)
            .map(|(p, t)| (l.users[p].as_str(), t));
    cl.del.sample(id, store, peer_time)?;
    if let Some((user, t)) = peer_time {
        let earliest = m.to.and_then(|p| truth.read_time(idx, p));
        if earliest.is_none_or(|e| t < e) {
            return ahead(format!(
                "readTime {t} of {user}, server's {}",
                earliest.map_or("none".into(), |e| e.to_string())
            ));
        }
    }
    Ok(())
}

/// The server's delivered figures of a message: count, peer.
fn server_delivered(truth: &Truth, idx: usize) -> (u64, bool) {
    let l = truth.ledger;
    let m = &l.msgs[idx];
    let all: BTreeSet<usize> = truth
        .delivered(idx)
        .union(truth.readers(idx))
        .copied()
        .collect();
    match m.to {
        Some(p) => (u64::from(all.contains(&p)), all.contains(&p)),
        None => (l.read_list(m, &all).len() as u64, false),
    }
}

/// After quiescence: the delivered figures shown are the server's, and
/// (C2C) the peer's read time is the server's.
pub(crate) fn converged(
    truth: &Truth,
    cl: &mut Client,
    idx: usize,
    info: &ReadReceiptInfo,
    c: &mut Counters,
) -> Result<(), Fail> {
    c.delivery_checks += 1;
    let l = truth.ledger;
    let m = &l.msgs[idx];
    let store = Delivered::of(info);
    let shown = cl.del.shown(&m.id, store);
    let (count, peer) = server_delivered(truth, idx);
    if shown.count != count || (m.to.is_some() && shown.peer != peer) {
        return Err(Fail::new(
            Invariant::Convergence,
            format!(
                "{}: deliveredCount {} isPeerDelivered {}, server has {count} {peer}",
                m.id, shown.count, shown.peer
            ),
        ));
    }
    if let Some(p) = m.to {
        let got = cl.del.shown_time(&m.id, &l.users[p], info.read_time);
        let want = truth.read_time(idx, p);
        if got != want {
            return Err(Fail::new(
                Invariant::Convergence,
                format!(
                    "{}: readTime of {} is {got:?}, server has {want:?}",
                    m.id, l.users[p]
                ),
            ));
        }
    }
    Ok(())
}

/// After quiescence: each reader on a group message's read page has the
/// server's read time.
pub(crate) fn times_converged(
    truth: &Truth,
    cl: &mut Client,
    idx: usize,
    times: &[ReaderAt],
    c: &mut Counters,
) -> Result<(), Fail> {
    let l = truth.ledger;
    let id = &l.msgs[idx].id;
    for r in times {
        c.delivery_checks += 1;
        let got = cl.del.shown_time(id, &r.user_id, r.read_time);
        let want = l.user_of(&r.user_id).and_then(|u| truth.read_time(idx, u));
        if got != want {
            return Err(Fail::new(
                Invariant::Convergence,
                format!(
                    "{id}: readTime of {} is {got:?}, server has {want:?}",
                    r.user_id
                ),
            ));
        }
    }
    Ok(())
}
