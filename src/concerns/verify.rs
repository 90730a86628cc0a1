//! The deep check (`Store::verify`, rpc `verify`, `receiptdb check --deep`):
//! every stored counter and derived value recounted from its definition,
//! in one read transaction. Each check is one query returning the rows where
//! the stored value and the recount differ, so a healthy store costs one pass
//! per check and reports nothing. The definitions are the ones the writers
//! keep (`unread.rs`, `conversations.rs`, `outbox.rs`, `early.rs`).

use rusqlite::Connection;
use serde::Serialize;

use crate::error::Result;
use crate::storage::db::Db;

/// One stored value that differs from its recount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What was checked, e.g. `receipts.reader_count`.
    pub check: &'static str,
    /// The message ID, conversation ID or meta key it concerns.
    pub subject: String,
    /// The stored value (`null` when absent).
    pub stored: String,
    /// The value recounted from its definition.
    pub recounted: String,
}

/// What [`Store::verify`](crate::Store::verify) found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The names of the checks run, in order.
    pub checks: Vec<&'static str>,
    /// Every mismatch (empty on a healthy store).
    pub mismatches: Vec<Mismatch>,
}

impl VerifyReport {
    /// Whether every stored value equals its recount.
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// A group receipt message (`m`, its receipt row `r`, `known`: the group's
/// members are known) joined for the per-message checks.
const GROUP_RECEIPTS: &str = "FROM messages m JOIN receipts r ON r.rid = m.rid
     LEFT JOIN groups g ON g.group_id = m.recipient
     WHERE m.conversation_type = 'GROUP' AND m.is_out = 1 AND m.need_receipt = 1
       AND m.recalled = 0";

/// The audience of a group message (members by its time, not its sender).
const AUDIENCE: &str = "members mb WHERE mb.group_id = m.recipient
       AND (mb.join_time IS NULL OR mb.join_time <= m.time) AND mb.user_id <> m.sender";

/// Readers in the read audience (members or former members by the message's
/// time, anyone while the members are unknown), not the sender.
const READ_AUDIENCE_COUNT: &str = "(SELECT COUNT(*) FROM readers x WHERE x.rid = m.rid AND x.user_id <> m.sender
       AND (g.group_id IS NULL
            OR EXISTS (SELECT 1 FROM members mb WHERE mb.group_id = m.recipient AND mb.user_id = x.user_id
                         AND (mb.join_time IS NULL OR mb.join_time <= m.time))
            OR EXISTS (SELECT 1 FROM former_members fm WHERE fm.group_id = m.recipient AND fm.user_id = x.user_id
                         AND (fm.join_time IS NULL OR fm.join_time <= m.time))))";

/// Each check: its name and a query whose rows `(subject, stored, recounted)`
/// are the mismatches (values rendered as text, `NULL` as absent).
fn checks() -> Vec<(&'static str, String)> {
    let unread_audience = format!(
        "CASE WHEN g.group_id IS NULL THEN NULL ELSE (SELECT COUNT(*) FROM {AUDIENCE}
           AND NOT EXISTS (SELECT 1 FROM readers x WHERE x.rid = m.rid AND x.user_id = mb.user_id)) END"
    );
    vec![
        (
            "receipts.row",
            "SELECT m.id, NULL, 'a receipt row' FROM messages m
             WHERE m.is_out = 1 AND m.need_receipt = 1
               AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.rid = m.rid)"
                .into(),
        ),
        (
            "receipts.reader_count",
            format!(
                "SELECT id, stored, n FROM (SELECT m.id, r.reader_count AS stored,
                   {READ_AUDIENCE_COUNT} AS n {GROUP_RECEIPTS}) WHERE stored IS NOT n"
            ),
        ),
        (
            "receipts.read_count",
            format!(
                "SELECT m.id, r.read_count, 'at least ' || r.reader_count {GROUP_RECEIPTS}
                   AND r.read_count < r.reader_count"
            ),
        ),
        (
            "receipts.local_unread",
            format!(
                "SELECT id, stored, n FROM (SELECT m.id, r.local_unread AS stored,
                   {unread_audience} AS n {GROUP_RECEIPTS}) WHERE stored IS NOT n"
            ),
        ),
        (
            "receipts.unread_count",
            format!(
                "SELECT m.id, r.unread_count, 'at most ' || r.local_unread {GROUP_RECEIPTS}
                   AND m.status = 'success' AND r.local_unread IS NOT NULL
                   AND (r.unread_count IS NULL OR r.unread_count > r.local_unread)"
            ),
        ),
        (
            "receipts.c2c",
            "SELECT m.id, r.read_count || '/' || COALESCE(r.unread_count, 'null') || '/' || r.peer_read,
                    r.peer_read || '/' || (1 - r.peer_read) || '/' || r.peer_read
             FROM messages m JOIN receipts r ON r.rid = m.rid
             WHERE m.conversation_type = 'C2C' AND m.is_out = 1 AND m.need_receipt = 1
               AND (r.read_count IS NOT r.peer_read OR r.unread_count IS NOT 1 - r.peer_read)"
                .into(),
        ),
        (
            "unread_members",
            format!(
                "SELECT m.id, r.unread_indexed || ' indexed, ' || (SELECT COUNT(*) FROM unread_members u WHERE u.rid = m.rid),
                        'the audience less the readers'
                 {GROUP_RECEIPTS} AND (
                   (r.unread_indexed = 0 AND EXISTS (SELECT 1 FROM unread_members u WHERE u.rid = m.rid))
                   OR (r.unread_indexed <> 0 AND (
                     EXISTS (SELECT 1 FROM unread_members u WHERE u.rid = m.rid
                               AND (u.user_id = m.sender
                                    OR EXISTS (SELECT 1 FROM readers x WHERE x.rid = m.rid AND x.user_id = u.user_id)
                                    OR NOT EXISTS (SELECT 1 FROM members mb WHERE mb.group_id = m.recipient
                                                     AND mb.user_id = u.user_id
                                                     AND (mb.join_time IS NULL OR mb.join_time <= m.time))))
                     OR EXISTS (SELECT 1 FROM {AUDIENCE}
                                  AND NOT EXISTS (SELECT 1 FROM readers x WHERE x.rid = m.rid AND x.user_id = mb.user_id)
                                  AND NOT EXISTS (SELECT 1 FROM unread_members u WHERE u.rid = m.rid AND u.user_id = mb.user_id)))))"
            ),
        ),
        (
            "unread_members.orphan",
            "SELECT u.rid, COUNT(*), 0 FROM unread_members u
             WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.rid = u.rid) GROUP BY u.rid"
                .into(),
        ),
        (
            "conversations.row",
            "SELECT DISTINCT m.conversation_id, NULL, 'a conversation row' FROM messages m
             WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.conversation_id = m.conversation_id)"
                .into(),
        ),
        (
            "conversations.unread_count",
            "SELECT conversation_id, stored, n FROM (SELECT c.conversation_id, c.unread_count AS stored,
               (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.conversation_id
                  AND m.is_out = 0 AND m.status = 'success' AND m.sequence > c.read_seq) AS n
             FROM conversations c) WHERE stored IS NOT n"
                .into(),
        ),
        (
            "conversations.last",
            "SELECT conversation_id, stored, n FROM (SELECT c.conversation_id,
               COALESCE(c.last_rid, 'none') AS stored,
               COALESCE((SELECT m.rid FROM messages m WHERE m.conversation_id = c.conversation_id
                  ORDER BY m.sequence DESC, m.time DESC, m.rid DESC LIMIT 1), 'none') AS n
             FROM conversations c) WHERE stored IS NOT n"
                .into(),
        ),
        (
            "messages.is_peer_read",
            "SELECT m.id, 0, 1 FROM messages m JOIN conversations c ON c.conversation_id = m.conversation_id
             WHERE m.conversation_type = 'C2C' AND m.is_out = 1 AND m.status = 'success'
               AND m.is_peer_read = 0 AND m.sequence <= c.peer_read_seq"
                .into(),
        ),
        (
            "meta.total_unread",
            "SELECT 'total_unread', COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'total_unread'), 0),
                    (SELECT COALESCE(SUM(unread_count), 0) FROM conversations)
             WHERE COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'total_unread'), 0)
                   <> (SELECT COALESCE(SUM(unread_count), 0) FROM conversations)"
                .into(),
        ),
        (
            "meta.outbox_count",
            "SELECT 'outbox_count', COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'outbox_count'), 0),
                    (SELECT COUNT(*) FROM outbox)
             WHERE COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'outbox_count'), 0)
                   <> (SELECT COUNT(*) FROM outbox)"
                .into(),
        ),
        (
            "outbox.sent_state",
            // Queued receipts are pending; a handed-out batch stays whole
            // until acked, so its IDs may be acked meanwhile (a selfRead).
            "SELECT COALESCE(m.id, o.rid), COALESCE(m.sent_state, 'no message'),
                    CASE WHEN o.batch_id IS NULL THEN '1' ELSE '1 or 2' END
             FROM outbox o LEFT JOIN messages m ON m.rid = o.rid
             WHERE m.sent_state IS NULL
                OR NOT (m.sent_state = 1 OR (m.sent_state = 2 AND o.batch_id IS NOT NULL))"
                .into(),
        ),
        (
            "early_receipts.readers",
            "SELECT message_id || ' in ' || conversation_id, stored, n FROM (
               SELECT e.message_id, e.conversation_id, e.readers AS stored,
                 (SELECT COUNT(*) FROM early_readers x WHERE x.message_id = e.message_id
                    AND x.conversation_id = e.conversation_id) AS n
               FROM early_receipts e) WHERE stored IS NOT n"
                .into(),
        ),
        (
            "meta.early_count",
            "SELECT 'early_count', COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'early_count'), 0),
                    (SELECT COUNT(*) FROM early_receipts)
             WHERE COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'early_count'), 0)
                   <> (SELECT COUNT(*) FROM early_receipts)"
                .into(),
        ),
        (
            "meta.early_reader_count",
            "SELECT 'early_reader_count', COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'early_reader_count'), 0),
                    (SELECT COUNT(*) FROM early_readers)
             WHERE COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'early_reader_count'), 0)
                   <> (SELECT COUNT(*) FROM early_readers)"
                .into(),
        ),
        (
            "receipts.deliverer_count",
            "SELECT m.id, r.deliverer_count, (SELECT COUNT(*) FROM deliverers d WHERE d.rid = m.rid)
             FROM messages m JOIN receipts r ON r.rid = m.rid
             WHERE r.deliverer_count <> (SELECT COUNT(*) FROM deliverers d WHERE d.rid = m.rid)"
                .into(),
        ),
        (
            "delivery_outbox.state",
            "SELECT m.id, m.delivery_state, 'queued (1) exactly while in the delivery outbox'
             FROM messages m
             WHERE (m.delivery_state = 1) <> EXISTS (SELECT 1 FROM delivery_outbox o WHERE o.rid = m.rid)"
                .into(),
        ),
        (
            "deleted_messages.held",
            "SELECT m.id, 1, 'a deleted message is never held'
             FROM deleted_messages d JOIN messages m ON m.id = d.message_id"
                .into(),
        ),
        (
            "rows.of_no_message",
            "SELECT 'rid ' || x.rid, x.what, 'kept for a message not held'
             FROM (SELECT rid, 'receipts' AS what FROM receipts
                   UNION ALL SELECT rid, 'readers' FROM readers
                   UNION ALL SELECT rid, 'deliverers' FROM deliverers
                   UNION ALL SELECT rid, 'unread_members' FROM unread_members
                   UNION ALL SELECT rid, 'outbox' FROM outbox
                   UNION ALL SELECT rid, 'delivery_outbox' FROM delivery_outbox) x
             WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.rid = x.rid)"
                .into(),
        ),
        (
            "receipts.reader_rows",
            "SELECT m.id, r.reader_rows, (SELECT COUNT(*) FROM readers x WHERE x.rid = m.rid)
             FROM messages m JOIN receipts r ON r.rid = m.rid
             WHERE r.reader_rows <> (SELECT COUNT(*) FROM readers x WHERE x.rid = m.rid)"
                .into(),
        ),
    ]
}

fn text(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => "null".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

/// Runs every check on `conn` (inside one read transaction).
pub(crate) fn verify_conn(conn: &Connection) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    for (name, sql) in checks() {
        let mut st = conn.prepare(&sql)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            report.mismatches.push(Mismatch {
                check: name,
                subject: text(r.get_ref(0)?),
                stored: text(r.get_ref(1)?),
                recounted: text(r.get_ref(2)?),
            });
        }
        report.checks.push(name);
    }
    Ok(report)
}

/// The deep check of an open store.
pub(crate) fn verify(db: &Db) -> Result<VerifyReport> {
    db.read(verify_conn)
}
