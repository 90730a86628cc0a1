//! The hot queries, listed so tests can check their plans with
//! `EXPLAIN QUERY PLAN` and a later change cannot silently lose an index.

use crate::error::Result;
use crate::store::Store;

/// (name, SQL) of every hot query.
const HOT: &[(&str, &str)] = &[
    ("message by ID", crate::messages::MSG_BY_ID),
    ("message list page", crate::messages::MSG_PAGE),
    ("read member page", crate::query::READ_PAGE),
    ("unread member page", crate::query::UNREAD_PAGE),
    (
        "indexed unread page",
        crate::unread_index::INDEXED_UNREAD_PAGE,
    ),
    ("new audience readers", crate::merge::NEW_AUDIENCE_READERS),
    ("membership delta", crate::groups::MEMBER_DELTA),
    ("batch IDs", crate::outbox::BATCH_IDS),
    ("loose receipts", crate::outbox::LOOSE_RECEIPTS),
];

impl Store {
    /// `EXPLAIN QUERY PLAN` of each hot query: (name, plan lines).
    #[doc(hidden)]
    pub fn hot_query_plans(&self) -> Result<Vec<(&'static str, Vec<String>)>> {
        self.read(|c| {
            let mut out = Vec::new();
            for (name, sql) in HOT {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let n = st.parameter_count();
                let nulls: Vec<rusqlite::types::Null> = vec![rusqlite::types::Null; n];
                let lines = st
                    .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                out.push((*name, lines));
            }
            Ok(out)
        })
    }
}
