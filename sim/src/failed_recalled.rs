//! Failed sends and recalled messages as a device meets them (`impl
//! Client`; what it keeps is in `failed.rs` and `recalls.rs`): learning the
//! recalls a save or snapshot brings and freezing their figures, and
//! reading the store to check that frozen figures never move and that a
//! failed send still looks as if nobody received it.

use std::collections::BTreeMap;

use receiptdb::{IncomingMessage, Message};

use super::client::Client;
use super::fail::Fail;
use super::report::Counters;

impl Client {
    /// Messages a save or snapshot just told this device are recalled
    /// (`recalls.rs`): each is recorded, and the figures of its own ones
    /// frozen as they are now.
    pub(crate) fn learn_recalls(
        &mut self,
        msgs: &[IncomingMessage],
        c: &mut Counters,
    ) -> Result<(), Fail> {
        for (conv, ids) in self.rc.learn(&self.user_id, msgs, c) {
            let list = self.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list_with(&ids, true, true)
            })?;
            self.rc.freeze(&conv, list);
        }
        Ok(())
    }

    /// These recalled messages still show the figures frozen when the
    /// recall arrived (`recalls.rs`).
    pub(crate) fn check_frozen(&mut self, ids: &[String], c: &mut Counters) -> Result<(), Fail> {
        let by_conv = self.rc.frozen_by_conv(ids);
        self.check_receipts(&by_conv, c, |cl, m, c| {
            c.frozen_checks += 1;
            cl.rc.check_frozen(m)
        })
    }

    /// Every recalled message this device froze still shows those figures.
    pub(crate) fn check_recalls(&mut self, c: &mut Counters) -> Result<(), Fail> {
        let ids = self.rc.frozen_ids();
        self.check_frozen(&ids, c)
    }

    /// Every failed send this device holds still looks as if nobody
    /// received it (`failed.rs`).
    pub(crate) fn check_failed(&mut self, c: &mut Counters) -> Result<(), Fail> {
        let by_conv = self.fs.by_conv();
        self.check_receipts(&by_conv, c, |cl, m, c| {
            c.failed_checks += 1;
            cl.fs.check_held(m)
        })
    }

    /// Reads these messages with their full receipt info (per
    /// conversation, a hundred at a time) and checks each with `check`.
    fn check_receipts(
        &mut self,
        by_conv: &BTreeMap<String, Vec<String>>,
        c: &mut Counters,
        check: impl Fn(&Client, &Message, &mut Counters) -> Result<(), Fail>,
    ) -> Result<(), Fail> {
        for ids in by_conv.values() {
            for chunk in ids.chunks(100) {
                let list = self.call(c, "get_message_read_receipt_list", |s| {
                    s.get_message_read_receipt_list_with(chunk, true, true)
                })?;
                for m in &list {
                    check(self, m, c)?;
                }
            }
        }
        Ok(())
    }
}
