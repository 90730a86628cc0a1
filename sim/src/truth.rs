//! The world's side of the read state beyond the seed: turning it on in
//! every client at the start (delivery acks, the marks' logical clock),
//! the user's marks and private-reading switches each step, and the
//! server's authoritative answers the checks compare with (who received
//! what, read times, the positions a peer may see, unread marks).

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::ReceiptConfigPatch;

use super::client::Fail;
use super::marks::{mark_unread, toggle_private, MarkClient};
use super::protocol::{MarkState, Query};
use super::server::{Answer, ServerError};
use super::world::{tag, World};

/// Most message IDs in one query.
const QUERY_CHUNK: usize = 1000;

/// What the server reported beyond readers and positions.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// Message number → users who received it (readers included).
    pub delivered: BTreeMap<usize, BTreeSet<usize>>,
    /// Message number → reader → read time.
    pub read_times: BTreeMap<usize, BTreeMap<usize, i64>>,
    /// (user, conversation) → the position its C2C peer may see.
    pub peer_positions: BTreeMap<(usize, String), i64>,
    /// (user, conversation) → unread-mark registers.
    pub marks: BTreeMap<(usize, String), MarkState>,
}

type R<T> = std::result::Result<T, Fail>;

impl World<'_> {
    /// Every client queues delivery acks and starts each conversation it
    /// can have with the seeding unmark (marks.rs).
    pub(super) fn start_beyond(&mut self) -> R<()> {
        let patch = ReceiptConfigPatch {
            delivery_receipts: Some(true),
            ..Default::default()
        };
        let users = self.ledger.users.clone();
        let groups: Vec<String> = self.ledger.groups.iter().map(|g| g.id.clone()).collect();
        for cl in &mut self.clients {
            let mut convs: Vec<String> = users
                .iter()
                .filter(|u| **u != cl.user_id)
                .map(|u| format!("C2C{u}"))
                .collect();
            convs.extend(groups.iter().map(|g| format!("GROUP{g}")));
            let seed = MarkClient::seed(&convs);
            cl.call(&mut self.c, "patch_receipt_config", |s| {
                s.patch_receipt_config(&patch)
            })
            .and_then(|_| {
                cl.call(&mut self.c, "apply_read_reports", |s| {
                    s.apply_read_reports(&seed)
                })
            })
            .map_err(|f| tag(&cl.name, f))?;
        }
        Ok(())
    }

    /// The user of client `i` may mark a conversation unread (or unmark
    /// it) and may switch private reading of one.
    pub(super) fn user_marks(&mut self, i: usize) -> R<()> {
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

    fn ask(&mut self, what: &str, q: Query) -> R<Answer> {
        let at = self.clock();
        match self.server.query(at, &q) {
            Ok(a) => Ok(a),
            Err(e) => Err(self.server_error(&format!("the {what} query"), e)),
        }
    }

    fn wrong(&mut self, what: &str, detail: String) -> Fail {
        self.server_error(&format!("the {what} query"), ServerError(detail))
    }

    fn user_num(&mut self, what: &str, name: &str) -> R<usize> {
        match self.ledger.user_of(name) {
            Some(u) => Ok(u),
            None => Err(self.wrong(what, format!("its answer names unknown user {name:?}"))),
        }
    }

    fn msg_num(&mut self, what: &str, id: &str, asked: &[usize]) -> R<usize> {
        match self.ledger.index_of(id).filter(|i| asked.contains(i)) {
            Some(i) => Ok(i),
            None => Err(self.wrong(
                what,
                format!("its answer names message {id:?}, which was not asked"),
            )),
        }
    }

    /// The server's deliveries and read times of `idxs`; with `all_users`,
    /// also every user's peer-visible positions and unread marks.
    pub(super) fn query_beyond(&mut self, idxs: &[usize], all_users: bool) -> R<Extra> {
        let mut x = Extra::default();
        for chunk in idxs.chunks(QUERY_CHUNK) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|&i| self.ledger.msgs[i].id.clone())
                .collect();
            let Answer::Delivered(d) = self.ask(
                "delivered",
                Query::Delivered {
                    message_ids: ids.clone(),
                },
            )?
            else {
                return Err(self.wrong("delivered", "another answer".into()));
            };
            for (id, names) in d {
                let i = self.msg_num("delivered", &id, chunk)?;
                let mut set = BTreeSet::new();
                for n in names {
                    set.insert(self.user_num("delivered", &n)?);
                }
                x.delivered.insert(i, set);
            }
            let Answer::ReadTimes(t) =
                self.ask("readTimes", Query::ReadTimes { message_ids: ids })?
            else {
                return Err(self.wrong("readTimes", "another answer".into()));
            };
            for (id, times) in t {
                let i = self.msg_num("readTimes", &id, chunk)?;
                let mut map = BTreeMap::new();
                for (n, t) in times {
                    map.insert(self.user_num("readTimes", &n)?, t);
                }
                x.read_times.insert(i, map);
            }
        }
        if !all_users {
            return Ok(x);
        }
        for u in 0..self.ledger.users.len() {
            let user_id = self.ledger.users[u].clone();
            let Answer::Positions(p) = self.ask(
                "peerPositions",
                Query::PeerPositions {
                    user_id: user_id.clone(),
                },
            )?
            else {
                return Err(self.wrong("peerPositions", "another answer".into()));
            };
            x.peer_positions
                .extend(p.into_iter().map(|(c, p)| ((u, c), p)));
            let Answer::Marks(m) = self.ask("marks", Query::Marks { user_id })? else {
                return Err(self.wrong("marks", "another answer".into()));
            };
            x.marks.extend(m.into_iter().map(|(c, m)| ((u, c), m)));
        }
        Ok(x)
    }
}
