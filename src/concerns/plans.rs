//! The hot queries, listed so tests can check their plans with
//! `EXPLAIN QUERY PLAN` and a later change cannot silently lose an index.

use crate::error::Result;
use crate::storage::db::Db;

/// (name, SQL) of every hot query.
const HOT: &[(&str, &str)] = &[
    ("message by ID", crate::storage::rows::MSG_BY_ID),
    ("message list page", crate::storage::rows::MSG_PAGE),
    ("read member page", super::queries::READ_PAGE),
    (
        "read member page, all readers counted",
        super::queries::READ_PAGE_ALL,
    ),
    (
        "read page, plain keyset walk",
        super::queries::READ_PAGE_PLAIN,
    ),
    ("member page head", crate::storage::rows::PAGE_HEAD),
    ("unread page: audience walk", super::queries::AUDIENCE_WALK),
    ("unread page: readers walk", super::queries::READERS_WALK),
    ("indexed unread page", super::unread::INDEXED_UNREAD_PAGE),
    ("new readers", super::unread::NEW_READERS),
    ("new readers, the first", super::unread::NEW_READERS_FIRST),
    ("one new reader", super::unread::NEW_READER_ONE),
    ("members in ID order", super::unread::MEMBERS_IN_ORDER),
    (
        "new readers, no former members",
        super::unread::NEW_READERS_NO_FORMER,
    ),
    (
        "new readers, the first, no former members",
        super::unread::NEW_READERS_FIRST_NO_FORMER,
    ),
    ("which new-readers plan", super::unread::LEAN_CHECK),
    (
        "group receipt messages",
        super::unread::GROUP_RECEIPT_MESSAGES,
    ),
    (
        "early receipts of a conversation",
        super::early::EARLY_FOR_CONV,
    ),
    ("batch IDs", super::outbox::BATCH_IDS),
    ("send rows of a list", super::outbox::SEND_ROWS),
    // (Its outbox insert sorts the ≤ 30 rowids it is given: no table read.)
    ("send: mark pending", super::outbox::QUEUE_SET_PENDING),
    ("loose receipts", super::outbox::LOOSE_RECEIPTS),
    (
        "merge heads of a list",
        crate::storage::rows::MERGE_HEADS_OF_LIST,
    ),
    (
        "unread covered by a read move",
        super::conversations::UNREAD_BETWEEN,
    ),
    ("highest held sequence", super::conversations::HIGHEST_HELD),
    // The first page (CONV_FIRST) walks the same index from its start.
    (
        "conversation page, same key",
        crate::storage::rows::CONV_SAME_KEY,
    ),
    (
        "conversation page, same time",
        crate::storage::rows::CONV_SAME_TIME,
    ),
    ("conversation page, older", crate::storage::rows::CONV_OLDER),
    (
        "conversation page, groups without messages",
        super::conversation_list::EMPTY_GROUPS,
    ),
];

/// `EXPLAIN QUERY PLAN` of each hot query: (name, plan lines).
#[doc(hidden)]
pub(crate) fn hot_query_plans(db: &Db) -> Result<Vec<(&'static str, Vec<String>)>> {
    db.read(|c| {
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
