//! [`Store`]'s lifecycle calls: backup, restore, compaction (storage::copies).

use serde::Serialize;

use super::Store;
use crate::error::Result;
use crate::events::EventKind;
use crate::storage::copies::{self, BackupReport, CompactReport};
use crate::storage::meta;

/// What [`Store::restore`] left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// The total unread count after the restore.
    pub total_unread_count: u64,
}

impl Store {
    /// Copies the store, open and in use, into a new file at `path` (a
    /// relative path is taken from the store's folder): consistent as of
    /// one moment, synced, readable by the owner only, and never written
    /// over an existing file. Other connections keep writing meanwhile;
    /// this store's calls wait. The copy opens as this user's store.
    pub fn backup(&self, path: &str) -> Result<BackupReport> {
        let dest = copies::resolve(self.db.path(), path)?;
        copies::backup(&self.db, &dest)
    }

    /// Replaces the store's contents with the copy at `path` (a backup of
    /// this user's store, of this schema or an older one, upgraded on the
    /// way), in one transaction through SQLite: the files are never
    /// renamed or replaced under an open store. Refuses another user's copy
    /// (`OWNER_MISMATCH`), a newer schema's (`SCHEMA_TOO_NEW`) and a file
    /// that is not a store (`STORE_CORRUPT`), changing nothing. Emits
    /// `STORE_RESTORED` (and the total unread count when it moved) after
    /// the commit. See docs/PROTOCOL.md, Lifecycle, for what is kept.
    pub fn restore(&self, path: &str) -> Result<RestoreReport> {
        self.db.writable()?;
        let src = copies::resolve(self.db.path(), path)?;
        let copy =
            copies::prepare_restore(&src, self.owner(), self.db.path(), self.db.key().as_deref())?;
        self.db.write_attached(copy.path(), |tx| {
            copies::replace_contents(tx)?;
            tx.events.push(EventKind::StoreRestored);
            Ok(RestoreReport {
                total_unread_count: meta::total_unread(tx.conn)?,
            })
        })
    }

    /// The passphrase the store was opened with (`None`: not encrypted).
    pub(crate) fn key(&self) -> Option<String> {
        self.db.key()
    }

    /// Re-keys the open encrypted store: every page is rewritten with
    /// `new_key` in one transaction, and later opens need it. A plain store
    /// is refused (`INVALID_PARAMS`): encrypt it closed with
    /// [`crate::change_key`]. Other stores open on the same file keep the
    /// old key and fail their next read (`WRONG_KEY` once reopened with it):
    /// re-key with the file open once.
    pub fn rekey(&self, new_key: &str) -> Result<()> {
        if new_key.is_empty() {
            return Err(crate::error::Error::invalid(
                "the new key must not be empty",
            ));
        }
        self.db.rekey(new_key)
    }

    /// The store file's path (`None` in memory).
    pub fn path(&self) -> Option<&std::path::Path> {
        self.db.path()
    }

    /// Rebuilds the file without its free pages and shrinks it on disk;
    /// reports the size before and after. Rewrites the whole database, so
    /// it takes about as long as a backup.
    pub fn compact(&self) -> Result<CompactReport> {
        copies::compact(&self.db)
    }
}
