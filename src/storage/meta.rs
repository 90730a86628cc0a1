//! Typed accessors of the `meta` table: every key is named here once.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::model::ReceiptConfig;

/// The keys of `meta`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key {
    /// The user the store belongs to (written at creation).
    Owner,
    /// The JSON receipt config.
    ReceiptConfig,
    /// Receipts queued and not yet acked (created by the schema).
    OutboxCount,
    /// Order of early receipts, for eviction.
    EarlySeq,
    /// How many early-receipt entries are buffered (kept in step).
    EarlyCount,
    /// How many early reader rows are buffered (kept in step).
    EarlyReaderCount,
    /// A per-store random part of local message IDs.
    DeviceNonce,
    /// Counter of local message IDs.
    NextLocalId,
    /// Sum of every conversation's unread count (created by schema 002).
    TotalUnread,
}

impl Key {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Key::Owner => "owner",
            Key::ReceiptConfig => "receipt_config",
            Key::OutboxCount => "outbox_count",
            Key::EarlySeq => "early_seq",
            Key::EarlyCount => "early_count",
            Key::EarlyReaderCount => "early_reader_count",
            Key::DeviceNonce => "device_nonce",
            Key::NextLocalId => "next_local_id",
            Key::TotalUnread => "total_unread",
        }
    }
}

/// The text value of `key`, if set.
pub(crate) fn get(conn: &Connection, key: Key) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row(params![key.as_str()], |r| r.get(0))
        .optional()?)
}

/// Sets `key` to `value`.
pub(crate) fn set(conn: &Connection, key: Key, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key.as_str(), value])?;
    Ok(())
}

/// Adds one to the counter `key` (starting at 1) and returns its new value.
pub(crate) fn next(conn: &Connection, key: Key) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO meta(key, value) VALUES (?1, '1')
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
             RETURNING CAST(value AS INTEGER)",
        )?
        .query_row(params![key.as_str()], |r| r.get(0))?)
}

/// The outbox count (never negative).
pub(crate) fn outbox_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
        .query_row(params![Key::OutboxCount.as_str()], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Moves the outbox count by `delta` and returns the new count.
pub(crate) fn add_outbox_count(conn: &Connection, delta: i64) -> Result<u64> {
    conn.prepare_cached("UPDATE meta SET value = CAST(value AS INTEGER) + ?2 WHERE key = ?1")?
        .execute(params![Key::OutboxCount.as_str(), delta])?;
    outbox_count(conn)
}

/// The receipt config (the default until one is set).
pub(crate) fn receipt_config(conn: &Connection) -> Result<ReceiptConfig> {
    match get(conn, Key::ReceiptConfig)? {
        None => Ok(ReceiptConfig::default()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|_| Error::StoreCorrupt("unreadable receipt config".into())),
    }
}

/// Whether delivery acks are queued (receipts on and `deliveryReceipts`):
/// read in SQL from the stored config, without decoding it (a save asks
/// once a message).
pub(crate) fn delivery_acks_on(conn: &Connection) -> Result<bool> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(json_extract(value, '$.enabled'), 1)
                    AND coalesce(json_extract(value, '$.deliveryReceipts'), 0)
             FROM meta WHERE key = ?1",
        )?
        .query_row([Key::ReceiptConfig.as_str()], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Stores the receipt config.
pub(crate) fn set_receipt_config(conn: &Connection, cfg: &ReceiptConfig) -> Result<()> {
    let json = serde_json::to_string(cfg).map_err(|e| Error::internal(e.to_string()))?;
    set(conn, Key::ReceiptConfig, &json)
}

/// The integer counter `key` (0 when unset).
pub(crate) fn counter(conn: &Connection, key: Key) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
        .query_row(params![key.as_str()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Moves the integer counter `key` by `delta` (creating it at 0).
pub(crate) fn add_counter(conn: &Connection, key: Key, delta: i64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ?2",
    )?
    .execute(params![key.as_str(), delta])?;
    Ok(())
}

/// The total unread count (never negative; 0 when the key is missing).
pub(crate) fn total_unread(conn: &Connection) -> Result<u64> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
        .query_row(params![Key::TotalUnread.as_str()], |r| r.get(0))
        .optional()?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// Moves the total unread count by `delta`.
pub(crate) fn add_total_unread(conn: &Connection, delta: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, CAST(?2 AS TEXT))
         ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ?2",
    )?
    .execute(params![Key::TotalUnread.as_str(), delta])?;
    Ok(())
}
