//! Failed sends on the world's side (see `failed.rs` for the protocol and
//! what a device keeps): drawing which sends of the random workload fail,
//! saving one `status: fail` on its sender's device, and the final check
//! that no other device nor the server ever has one.

use std::collections::BTreeMap;

use receiptdb::{ConversationType, IncomingMessage, MessageStatus};

use super::fail::{tag, Fail};
use super::failed::FailedSend;
use super::protocol::Query as ServerQuery;
use super::report::Invariant;
use super::server::Answer;
use super::world::World;

type R<T> = std::result::Result<T, Fail>;

impl World<'_> {
    /// A message of the random workload: sent, or now and then a send
    /// that fails on one running device of its sender.
    pub(super) fn send_or_fail(
        &mut self,
        from: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
    ) -> R<()> {
        let clients = &self.clients;
        let up = || {
            (0..clients.len())
                .filter(|&i| clients[i].user == from && clients[i].is_up())
                .collect()
        };
        match self.failures.draw(self.sc.rates.failed_send, up) {
            Some(d) => self.fail_send(d, group, to, receipt),
            None => self.send(from, group, to, receipt),
        }
    }

    /// Device `d` saves its send as failed; nobody else hears of it.
    fn fail_send(
        &mut self,
        d: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
    ) -> R<()> {
        let l = &self.ledger;
        let (ctype, to_id, conv) = match (group, to) {
            (Some(g), _) => {
                let gid = l.groups[g].id.clone();
                (ConversationType::Group, gid.clone(), format!("GROUP{gid}"))
            }
            (None, Some(t)) => {
                let uid = l.users[t].clone();
                (ConversationType::C2C, uid.clone(), format!("C2C{uid}"))
            }
            (None, None) => return Ok(()),
        };
        let id = format!("f{}", self.failures.sends.len() + 1);
        let time = self.clock().time;
        let cl = &mut self.clients[d];
        // createMessage's local values: a sequence one above the highest held.
        let sequence = cl.reads.highest_sequence(&conv).max(cl.fs.highest(&conv)) + 1;
        let msg = IncomingMessage {
            id: id.clone(),
            conversation_id: Some(conv.clone()),
            conversation_type: Some(ctype),
            from: cl.user_id.clone(),
            to: to_id,
            time,
            sequence,
            status: Some(MessageStatus::Fail),
            need_read_receipt: receipt,
            ..Default::default()
        };
        cl.call(&mut self.c, "save_messages", |s| s.save_messages(&[msg]))
            .map_err(|f| tag(&cl.name, f))?;
        cl.fs
            .hold(id.clone(), conv, sequence, group.is_some(), receipt);
        self.c.failed_sends += 1;
        self.failures.sends.push(FailedSend { id, device: d });
        Ok(())
    }

    /// After quiescence: no device but the sender's holds a failed send,
    /// and the server counts nobody as having read or received one.
    pub(super) fn failed_final(&mut self) -> R<()> {
        let sends = self.failures.sends.clone();
        for f in &sends {
            for i in (0..self.clients.len()).filter(|&i| i != f.device) {
                self.c.failed_checks += 1;
                let cl = &mut self.clients[i];
                let got = cl.call(&mut self.c, "find_message", |s| s.find_message(&f.id));
                if got.map_err(|e| tag(&cl.name, e))?.is_some() {
                    let name = self.clients[f.device].name.clone();
                    let e = Fail::new(
                        Invariant::Failed,
                        format!("{} failed on {name}, yet this device holds it", f.id),
                    );
                    return Err(tag(&self.clients[i].name, e));
                }
            }
        }
        let ids: Vec<String> = sends.iter().map(|f| f.id.clone()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let at = self.clock();
        for q in [
            ServerQuery::Readers {
                message_ids: ids.clone(),
            },
            ServerQuery::Delivered { message_ids: ids },
        ] {
            let ans = match self.server.query(at, &q) {
                Ok(a) => a,
                Err(e) => return Err(self.server_error("a query about failed sends", e)),
            };
            let named = match ans {
                Answer::Readers(m) | Answer::Delivered(m) => m,
                _ => BTreeMap::new(),
            };
            if let Some((id, users)) = named.iter().find(|(_, u)| !u.is_empty()) {
                return Err(Fail::new(
                    Invariant::Failed,
                    format!("{id} failed, yet the server counts {users:?} for it"),
                ));
            }
        }
        Ok(())
    }
}
