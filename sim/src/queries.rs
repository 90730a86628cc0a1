//! What the world asks the server for the checks (`SyncServer::query`):
//! readers, read positions, deliveries, read times, the positions a peer
//! may see and unread marks, each answer checked to name only what was
//! asked. They make up the [`Truth`](super::truth::Truth) clients are
//! compared with.

use std::collections::{BTreeMap, BTreeSet};

use super::fail::Fail;
use super::protocol::Query;
use super::server::{Answer, ServerError};
use super::truth::Extra;
use super::world::World;

/// Most message IDs in one query.
const QUERY_CHUNK: usize = 1000;

type R<T> = std::result::Result<T, Fail>;

impl World<'_> {
    /// The server's readers of these messages (numbers).
    pub(super) fn query_readers(
        &mut self,
        idxs: &[usize],
    ) -> std::result::Result<BTreeMap<usize, BTreeSet<usize>>, Fail> {
        let mut out = BTreeMap::new();
        for chunk in idxs.chunks(QUERY_CHUNK) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|&i| self.ledger.msgs[i].id.clone())
                .collect();
            let q = Query::Readers { message_ids: ids };
            let at = self.clock();
            let ans = match self.server.query(at, &q) {
                Ok(Answer::Readers(r)) => r,
                Ok(_) => {
                    let e = ServerError("a readers query got another answer".into());
                    return Err(self.server_error("the readers query", e));
                }
                Err(e) => return Err(self.server_error("the readers query", e)),
            };
            for (id, names) in ans {
                let Some(i) = self.ledger.index_of(&id).filter(|i| chunk.contains(i)) else {
                    let e = ServerError(format!(
                        "its readers answer names message {id:?}, which was not asked"
                    ));
                    return Err(self.server_error("the readers query", e));
                };
                let mut set = BTreeSet::new();
                for n in names {
                    let Some(u) = self.ledger.user_of(&n) else {
                        let e = ServerError(format!("its readers of {id} name unknown user {n:?}"));
                        return Err(self.server_error("the readers query", e));
                    };
                    set.insert(u);
                }
                out.insert(i, set);
            }
        }
        Ok(out)
    }

    /// The server's read positions of `user`.
    fn query_positions(&mut self, user: usize) -> std::result::Result<BTreeMap<String, i64>, Fail> {
        let q = Query::Positions {
            user_id: self.ledger.users[user].clone(),
        };
        let at = self.clock();
        match self.server.query(at, &q) {
            Ok(Answer::Positions(p)) => Ok(p),
            Ok(_) => {
                let e = ServerError("a positions query got another answer".into());
                Err(self.server_error("the positions query", e))
            }
            Err(e) => Err(self.server_error("the positions query", e)),
        }
    }

    /// Everything the final check compares against: readers, positions.
    #[allow(clippy::type_complexity)]
    pub(super) fn full_truth(
        &mut self,
    ) -> std::result::Result<
        (
            BTreeMap<usize, BTreeSet<usize>>,
            BTreeMap<(usize, String), i64>,
        ),
        Fail,
    > {
        let all: Vec<usize> = (0..self.ledger.msgs.len()).collect();
        let readers = self.query_readers(&all)?;
        let mut positions = BTreeMap::new();
        for u in 0..self.ledger.users.len() {
            for (conv, p) in self.query_positions(u)? {
                positions.insert((u, conv), p);
            }
        }
        Ok((readers, positions))
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
