//! The unread marks (`marks.rs`) as the world drives them on a device:
//! the user marks or unmarks a conversation, switches private reading,
//! and the transport loop sends the pending mark reports; and on the
//! device (`impl Client`), the mutated cache catching up after a local
//! mark and the count of mark reports not acked.

use super::client::Client;
use super::fail::Fail;
use super::network::Packet;
use super::report::{Counters, Invariant};
use super::rng::Rng;

/// The user marks (3 in 5) or unmarks one conversation it holds.
pub(crate) fn mark_unread(cl: &mut Client, rng: &mut Rng, c: &mut Counters) -> Result<(), Fail> {
    let convs = cl.reads.held_conversations();
    let Some(conv) = rng.pick(&convs).cloned() else {
        return Ok(());
    };
    let on = rng.index(5) < 3;
    c.unread_marks += 1;
    let ids = [conv.clone()];
    cl.call(c, "mark_conversation_unread", |s| {
        s.mark_conversation_unread(&ids, on)
    })?;
    cl.mk.dirty = true;
    cl.marks_after_local(&ids, c)
}

/// The user switches private reading of one conversation it holds.
pub(crate) fn toggle_private(cl: &mut Client, rng: &mut Rng, c: &mut Counters) -> Result<(), Fail> {
    let convs = cl.reads.held_conversations();
    let Some(conv) = rng.pick(&convs).cloned() else {
        return Ok(());
    };
    let on = !cl.mk.private.contains(&conv);
    c.private_switches += 1;
    let now = cl.call(c, "set_conversation_private_reading", |s| {
        s.set_conversation_private_reading(&conv, Some(on))
    })?;
    if now != on {
        return Err(Fail::new(
            Invariant::Private,
            format!("setConversationPrivateReading({conv}, {on}) answered {now}"),
        ));
    }
    if on {
        cl.mk.private.insert(conv);
    } else {
        cl.mk.private.remove(&conv);
    }
    Ok(())
}

/// Sends the pending mark reports when a mark was made or a send is due
/// a retry.
pub(crate) fn flush_marks(
    cl: &mut Client,
    now: u64,
    retry_after: u64,
    c: &mut Counters,
) -> Result<Option<Packet>, Fail> {
    if !cl.mk.due(now, retry_after) {
        return Ok(None);
    }
    let reports = cl.call(c, "get_pending_mark_reports", |s| {
        s.get_pending_mark_reports()
    })?;
    let idx = cl.idx;
    Ok(cl.mk.send(idx, reports, now, c))
}

impl Client {
    /// After a local read or mark of `convs`: the mutated cache takes what
    /// the store shows now (`marks.rs`).
    pub(crate) fn marks_after_local(
        &mut self,
        convs: &[String],
        c: &mut Counters,
    ) -> Result<(), Fail> {
        if !self.mk.arrival {
            return Ok(());
        }
        for conv in convs {
            let cv = self.call(c, "get_conversation", |s| s.get_conversation(conv))?;
            self.mk.local(conv, cv.marked_unread);
        }
        Ok(())
    }

    /// Mark reports not acked, per the store.
    pub(crate) fn mark_pending(&mut self, c: &mut Counters) -> Result<usize, Fail> {
        Ok(self
            .call(c, "get_pending_mark_reports", |s| {
                s.get_pending_mark_reports()
            })?
            .len())
    }
}
