//! The random workload of a step and the actions it shares with scripts
//! (`impl World`): faults drawn (partitions, outages, crashes due, recalls),
//! membership churn, new messages spread evenly over the run, and a user's
//! unread marks and private reading; a send, a join or leave, a recall as
//! the ledger, the server and the running clients take it.

use super::fail::{tag, Fail};
use super::mark_actions::{mark_unread, toggle_private};
use super::protocol::Input;
use super::scenario::FaultKind;
use super::world::{World, BASE_TIME};
use receiptdb::Member;

impl World<'_> {
    /// Recalls message `idx` in the ledger and tells the server.
    pub(super) fn recall(&mut self, idx: usize) -> std::result::Result<(), Fail> {
        if !self.ledger.recall(idx) {
            return Ok(());
        }
        self.fault(FaultKind::Reject);
        let message_id = self.ledger.msgs[idx].id.clone();
        self.serve(Input::Recall { message_id })
    }

    pub(super) fn random_faults(&mut self) -> std::result::Result<(), Fail> {
        let sc = self.sc;
        let (f, r, now) = (&sc.faults, &sc.rates, self.now);
        let n = self.clients.len();
        if f.contains(&FaultKind::Partition) && self.rng.chance(r.partition) {
            let mut pool: Vec<usize> = (0..n).collect();
            let k = self.rng.range(1, (n as u64 / 2).max(1));
            let cut: Vec<usize> = (0..k)
                .map(|_| pool.swap_remove(self.rng.index(pool.len())))
                .collect();
            let until = now + self.rng.range(1, r.max_outage);
            self.net.partition(&cut, until);
            self.fault(FaultKind::Partition);
        }
        for i in 0..n {
            if !self.clients[i].is_up() {
                continue;
            }
            if f.contains(&FaultKind::Offline)
                && self.clients[i].offline_until <= now
                && self.rng.chance(r.offline)
            {
                self.clients[i].offline_until = now + self.rng.range(1, r.max_outage);
                self.fault(FaultKind::Offline);
            }
            if f.contains(&FaultKind::Crash) && self.rng.chance(r.crash) {
                let point = self.rng.range(0, 6);
                let down = self.rng.range(1, r.max_outage);
                self.crash_due[i] = Some((point, down));
            }
        }
        if f.contains(&FaultKind::Reject) && self.rng.chance(r.recall) {
            let n = self.ledger.msgs.len();
            if n > 0 {
                let idx = n - 1 - self.rng.index(n.min(30));
                self.recall(idx)?;
            }
        }
        Ok(())
    }

    pub(super) fn churn(&mut self) -> std::result::Result<(), Fail> {
        if self.sc.groups == 0 || !self.rng.chance(self.sc.rates.churn) {
            return Ok(());
        }
        let g = self.rng.index(self.sc.groups);
        let members: Vec<usize> = self.ledger.groups[g].members.keys().copied().collect();
        if self.rng.chance(0.5) {
            let others: Vec<usize> = (0..self.ledger.users.len())
                .filter(|u| !members.contains(u))
                .collect();
            if let Some(&u) = self.rng.pick(&others) {
                self.membership(g, u, true)?;
            }
        } else if let Some(&u) = self.rng.pick(&members) {
            self.membership(g, u, false)?;
        }
        Ok(())
    }

    /// A join or a leave: in the ledger, on the server and at once on every
    /// running client.
    pub(super) fn membership(
        &mut self,
        g: usize,
        u: usize,
        join: bool,
    ) -> std::result::Result<(), Fail> {
        let time = BASE_TIME + self.now as i64;
        let changed = if join {
            self.ledger.join(g, u, time)
        } else {
            self.ledger.leave(g, u)
        };
        if !changed {
            return Ok(());
        }
        self.c.membership_changes += 1;
        let gid = self.ledger.groups[g].id.clone();
        let uid = self.ledger.users[u].clone();
        self.serve(if join {
            Input::Join {
                group_id: gid.clone(),
                user_id: uid.clone(),
                time,
            }
        } else {
            Input::Leave {
                group_id: gid.clone(),
                user_id: uid.clone(),
            }
        })?;
        for cl in self.clients.iter_mut().filter(|c| c.is_up()) {
            let r = if join {
                let m = [Member {
                    user_id: uid.clone(),
                    join_time: Some(time),
                }];
                cl.call(&mut self.c, "add_group_members", |s| {
                    s.add_group_members(&gid, &m)
                })
            } else {
                let ids = [uid.clone()];
                cl.call(&mut self.c, "remove_group_members", |s| {
                    s.remove_group_members(&gid, &ids)
                })
            };
            r.map_err(|f| tag(&cl.name, f))?;
        }
        Ok(())
    }

    pub(super) fn new_messages(&mut self) -> std::result::Result<(), Fail> {
        let sc = self.sc;
        // Spread evenly: by the end of step s, messages * (s + 1) / steps.
        let steps = u128::from(sc.steps.max(1));
        let due = (sc.messages as u128 * u128::from(self.now + 1) / steps) as usize;
        for _ in self.made..due.min(sc.messages) {
            self.made += 1;
            let receipt = self.rng.chance(sc.rates.receipt_share);
            let users = self.ledger.users.len();
            if sc.groups == 0 || self.rng.chance(sc.rates.c2c_share) {
                let from = self.rng.index(users);
                let to = (from + 1 + self.rng.index(users - 1)) % users;
                self.send_or_fail(from, None, Some(to), receipt)?;
            } else {
                let g = self.rng.index(sc.groups);
                let members: Vec<usize> = self.ledger.groups[g].members.keys().copied().collect();
                if let Some(&from) = self.rng.pick(&members) {
                    self.send_or_fail(from, Some(g), None, receipt)?;
                }
            }
        }
        Ok(())
    }

    /// A user sends a message: the ledger records it, the server delivers it.
    pub(super) fn send(
        &mut self,
        from: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
    ) -> std::result::Result<(), Fail> {
        let time = BASE_TIME + self.now as i64;
        let Some(idx) = self.ledger.send(from, group, to, receipt, time) else {
            return Ok(());
        };
        self.c.messages += 1;
        let message = self.ledger.announce(idx);
        self.serve(Input::Message { message })
    }

    /// The user of client `i` may mark a conversation unread (or unmark
    /// it) and may switch private reading of one.
    pub(super) fn user_marks(&mut self, i: usize) -> std::result::Result<(), Fail> {
        let r = &self.sc.rates;
        let (mark, private) = (r.mark_unread, r.private_reading);
        if !self.clients[i].is_up() {
            return Ok(());
        }
        if self.rng.chance(mark) {
            let cl = &mut self.clients[i];
            mark_unread(cl, &mut self.rng, &mut self.c).map_err(|f| tag(&cl.name, f))?;
        }
        if self.rng.chance(private) {
            let cl = &mut self.clients[i];
            toggle_private(cl, &mut self.rng, &mut self.c).map_err(|f| tag(&cl.name, f))?;
        }
        Ok(())
    }
}
