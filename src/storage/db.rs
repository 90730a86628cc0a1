//! The one connection of an open store: read and write transactions, the
//! write context [`Tx`], and publishing a commit's events in commit order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use super::file::Opened;
use super::handle;
use super::options::OpenOptions;
use super::rows::{conversation_events, receipt_items, ConvRow, HeadMemo, PageHead};
use super::txn::Txn;
use crate::error::{Error, Result};
use crate::events::{Bus, Event, EventKind, Filter, Subscription};

/// The connection, its event bus and the knobs of one open store.
pub(crate) struct Db {
    conn: Mutex<Connection>,
    owner: String,
    bus: Arc<Bus>,
    /// Last commit sequence; held while publishing so events leave in commit order.
    dispatch: Mutex<u64>,
    unread_index_min: i64,
    /// The path and the file's identity at open (`None` in memory).
    file: Option<(PathBuf, Option<(u64, u64)>)>,
    read_only: bool,
    /// Set for good once the file is found moved: no write runs after.
    moved: AtomicBool,
    /// The passphrase of an encrypted store (for its copies).
    key: Mutex<Option<String>>,
    /// The last member page's head; forgotten by [`Db::lock_writer`].
    /// Locked after `conn`, only while `conn` is held.
    heads: Mutex<HeadMemo>,
}

/// The context of one write transaction.
pub(crate) struct Tx<'a> {
    pub conn: &'a Connection,
    pub owner: &'a str,
    pub events: Vec<EventKind>,
    /// Rowids of `out` messages whose receipt state changed.
    pub receipt_changed: BTreeSet<i64>,
    /// Smallest audience whose unread members get indexed.
    pub unread_index_min: i64,
    /// Conversations whose read state may change, with their row before
    /// (taken on first touch), for `CONVERSATION_CHANGED`.
    pub conv_before: BTreeMap<String, Option<ConvRow>>,
    /// How far this transaction moved the total unread count (the sum of
    /// its moves: nothing else writes the total), for its event.
    pub total_moved: i64,
    /// Rowids of held `out` C2C messages whose `isPeerRead` just became true.
    pub peer_read_now: BTreeSet<i64>,
    /// Rowids of `out` messages whose delivery answer changed.
    pub delivery_changed: BTreeSet<i64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic mid-transaction rolls back on drop, so the data stays sound.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Db {
    /// Wraps an open, migrated connection.
    pub(crate) fn new(opened: Opened, owner: &str, opts: &OpenOptions) -> Result<Db> {
        let Opened {
            conn,
            file,
            read_only,
        } = opened;
        conn.set_prepared_statement_cache_capacity(256);
        // Plans that do not depend on bound values. Without this, a join
        // with `messages` (it has partial indexes) remembers that its plan
        // looked at a parameter, and the statement cache's clearing of the
        // bindings expires it: every cached use was parsed and planned again
        // (57% of a simulator run). Our queries never rely on a value-chosen plan.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        let db = Db {
            conn: Mutex::new(conn),
            file,
            read_only,
            moved: AtomicBool::new(false),
            owner: owner.to_string(),
            bus: Arc::new(Bus::default()),
            dispatch: Mutex::new(0),
            unread_index_min: opts.unread_index_min_audience.max(1),
            key: Mutex::new(opts.key.clone()),
            heads: Mutex::new(HeadMemo::default()),
        };
        if let Some(pages) = opts.max_page_count {
            db.set_max_page_count(pages)?;
        }
        Ok(db)
    }

    /// The user this store belongs to.
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// `PRAGMA max_page_count`; returns the limit now in force.
    pub(crate) fn set_max_page_count(&self, pages: u64) -> Result<u64> {
        let conn = self.lock_writer();
        let pages = pages.min(i64::MAX as u64) as i64;
        let n: i64 = conn.pragma_update_and_check(None, "max_page_count", pages, |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Subscribes with a channel of `capacity` events.
    pub(crate) fn subscribe(&self, filter: Filter, capacity: usize) -> Subscription {
        let _order = lock(&self.dispatch);
        self.bus.subscribe(filter, capacity)
    }

    /// Reads with `f` and subscribes with no commit between the two;
    /// returns the last commit sequence `f` saw.
    pub(crate) fn read_and_subscribe<T>(
        &self,
        filter: Filter,
        capacity: usize,
        f: impl FnOnce(&Connection, &Filter) -> Result<T>,
    ) -> Result<(u64, T, Subscription)> {
        let conn = lock(&self.conn);
        // Lock order conn -> dispatch, as in `write`: no commit can run, and
        // none committed earlier is still being published.
        let seq = lock(&self.dispatch);
        let tx = Txn::deferred(&conn)?;
        let out = f(&tx, &filter)?;
        tx.commit()?;
        let subscription = self.bus.subscribe(filter, capacity);
        Ok((*seq, out, subscription))
    }

    /// Runs `f` in one IMMEDIATE transaction; on success commits and then
    /// publishes its events in commit order.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.writable()?;
        let conn = self.lock_writer();
        self.write_locked(conn, f)
    }

    /// Like [`Db::write`], with the file at `path` attached as schema `src`
    /// for the transaction (ATTACH cannot run inside one); detached after,
    /// whatever the outcome.
    pub(crate) fn write_attached<T>(
        &self,
        path: &std::path::Path,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.writable()?;
        let conn = self.lock_writer();
        let name = path
            .to_str()
            .ok_or_else(|| Error::invalid("the path is not valid UTF-8"))?;
        // A detach that failed last time leaves `src` attached.
        let _ = conn.execute("DETACH DATABASE src", []);
        match self.key() {
            // The copy is encrypted with the store's key (docs/PROTOCOL.md, Lifecycle).
            Some(k) => conn.execute("ATTACH DATABASE ?1 AS src KEY ?2", [name, k.as_str()])?,
            None => conn.execute("ATTACH DATABASE ?1 AS src", [name])?,
        };
        let out = self.write_locked(conn, f);
        let detached = self.lock_writer().execute("DETACH DATABASE src", []);
        let out = out?;
        detached?;
        Ok(out)
    }

    /// Runs `f` with the connection alone (no transaction open), for what
    /// cannot run in one (VACUUM).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.lock_writer();
        f(&conn)
    }

    /// A write may run: the store is not read-only and its file not moved.
    pub(crate) fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly(
                "the file or its folder cannot be written".into(),
            ));
        }
        if self.moved.load(Ordering::Acquire) {
            return Err(Error::StoreMoved);
        }
        Ok(())
    }

    /// Whether the store's file was moved (checked now, through SQLite's
    /// handle); once it was, no write runs again.
    pub(crate) fn check_moved(&self) -> Result<()> {
        let conn = self.lock_writer();
        if self.file_moved(&conn) {
            seal_moved(&conn);
            return Err(Error::StoreMoved);
        }
        Ok(())
    }

    /// The passphrase of an encrypted store.
    pub(crate) fn key(&self) -> Option<String> {
        lock(&self.key).clone()
    }

    /// Re-keys the open encrypted store (SQLCipher's `PRAGMA rekey`: every
    /// page rewritten with the new key, in one transaction).
    pub(crate) fn rekey(&self, new_key: &str) -> Result<()> {
        self.writable()?;
        let conn = self.lock_writer();
        if self.file_moved(&conn) {
            seal_moved(&conn);
            return Err(Error::StoreMoved);
        }
        let mut key = lock(&self.key);
        if key.is_none() {
            return Err(Error::invalid(
                "the store is not encrypted: encrypt it closed (change_key)",
            ));
        }
        conn.pragma_update(None, "rekey", new_key)?;
        *key = Some(new_key.to_string());
        Ok(())
    }

    /// The path of the store's file (`None` in memory).
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    fn write_locked<T>(
        &self,
        conn: MutexGuard<'_, Connection>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = Txn::immediate(&conn)?;
        let (out, changed, mut kinds, convs) = {
            let mut ctx = Tx {
                conn: &tx,
                owner: &self.owner,
                events: Vec::new(),
                receipt_changed: BTreeSet::new(),
                unread_index_min: self.unread_index_min,
                conv_before: BTreeMap::new(),
                total_moved: 0,
                peer_read_now: BTreeSet::new(),
                delivery_changed: BTreeSet::new(),
            };
            let out = f(&mut ctx)?;
            if !ctx.delivery_changed.is_empty() {
                // Read inside the transaction, after all of its changes: the committed values.
                let rids: Vec<i64> = ctx.delivery_changed.iter().copied().collect();
                let items = super::rows::delivery_items(&tx, &rids)?;
                ctx.events.push(EventKind::DeliveriesChanged(items));
            }
            let convs = (ctx.conv_before, ctx.total_moved, ctx.peer_read_now);
            (out, ctx.receipt_changed, ctx.events, convs)
        };
        if self.file_moved(&tx) {
            drop(tx); // rolls back
            seal_moved(&conn);
            return Err(Error::StoreMoved);
        }
        // Held from here to the publish: subscribing takes this lock too, so
        // whether anyone listens cannot change before the events go out, and
        // the next commit cannot publish ahead of this one.
        let mut seq = lock(&self.dispatch);
        // What the events carry, read inside the transaction when someone
        // listens: its own writes are exactly what the commit makes visible.
        // When they cannot be read, every subscriber learns it missed one.
        let listening = self.bus.has_subscribers();
        let conv_touched = !convs.0.is_empty() || convs.1 != 0 || !convs.2.is_empty();
        if conv_touched && listening {
            match conversation_events(&tx, &convs.0, convs.1, &convs.2) {
                Ok(mut evs) => kinds.append(&mut evs),
                Err(_) => kinds.push(EventKind::Lagged { missed: 1 }),
            }
        }
        let items = (!changed.is_empty() && listening).then(|| receipt_items(&tx, &changed));
        tx.commit()?;
        if changed.is_empty() && kinds.is_empty() {
            return Ok(out);
        }
        *seq += 1;
        if !listening {
            return Ok(out);
        }
        match items {
            Some(Ok(items)) => kinds.insert(0, EventKind::ReceiptsChanged(items)),
            Some(Err(_)) => kinds.insert(0, EventKind::Lagged { missed: 1 }),
            None => {}
        }
        drop(conn);
        let events: Vec<Event> = kinds
            .into_iter()
            .map(|kind| Event {
                commit_seq: *seq,
                kind,
            })
            .collect();
        self.bus.publish(&events);
        Ok(out)
    }

    /// Whether the file at the path is no longer the one open; once it is,
    /// the store stops writing for good.
    fn file_moved(&self, conn: &Connection) -> bool {
        let Some((path, identity)) = &self.file else {
            return false;
        };
        if !handle::has_moved(conn, path, *identity) {
            return false;
        }
        self.moved.store(true, Ordering::Release);
        true
    }

    /// The connection, for anything but a read: the member page head kept
    /// for the next page is forgotten first, since what runs may change it.
    fn lock_writer(&self) -> MutexGuard<'_, Connection> {
        let conn = lock(&self.conn);
        lock(&self.heads).forget();
        conn
    }

    /// [`HeadMemo::page_head`] on this store's memo, inside a read
    /// transaction on `conn` (the connection [`Db::read`] hands out).
    pub(crate) fn page_head(
        &self,
        conn: &Connection,
        id: &str,
        reader_rows: bool,
    ) -> Result<Option<Arc<PageHead>>> {
        lock(&self.heads).page_head(conn, id, reader_rows)
    }

    /// Runs `f` in a read transaction (one consistent view).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.conn);
        let tx = Txn::deferred(&conn)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// After the file was found moved: the commits already acknowledged go
/// from the WAL into the file the store has open (the moved one, through
/// SQLite's own descriptors, never the file now at the path), and the WAL is
/// emptied so no stale frame is read as the new file's. Close then neither
/// checkpoints nor deletes the `-wal` by name (it may be another file's now).
fn seal_moved(conn: &Connection) {
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    let _ = conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::file::open_memory_connection;
    use crate::storage::rows::MSG_BY_ID;
    use rusqlite::StatementStatus;

    /// A cached statement that joins `messages` runs again from the cache
    /// without being parsed and planned again (it was, at every use, until
    /// the planner was told not to look at bound values).
    #[test]
    fn cached_join_is_not_prepared_again() {
        let db = Db::new(
            open_memory_connection("u").expect("store"),
            "u",
            &OpenOptions::default(),
        )
        .expect("db");
        let conn = lock(&db.conn);
        for id in ["a", "b", "c"] {
            let mut st = conn.prepare_cached(MSG_BY_ID).expect("prepare");
            let mut rows = st.query([id]).expect("query");
            assert!(rows.next().expect("step").is_none());
        }
        let st = conn.prepare_cached(MSG_BY_ID).expect("prepare");
        assert_eq!(st.get_status(StatementStatus::Run), 3);
        assert_eq!(st.get_status(StatementStatus::RePrepare), 0);
    }
}
