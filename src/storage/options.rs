//! Options of an open store.

/// Default smallest audience whose unread members get indexed.
pub(crate) const DEFAULT_UNREAD_INDEX_MIN: i64 = 2_000;

/// How hard a commit tries to reach the disk. The same in the browser
/// (wasm32), where WAL runs in exclusive locking (docs/DESIGN.md).
// The hidden variant is a test switch, not a promise of more variants.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a commit survives a crash of the
    /// process (kill -9); the last commits may be lost on power failure.
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: a commit also survives power loss.
    Full,
    /// `synchronous=OFF`: no sync at all. Only for tests that prove a
    /// power-loss harness can see losses; never use it for data.
    #[doc(hidden)]
    UnsafeOff,
}

/// Options of [`crate::Store::open_with`]. Build with [`OpenOptions::new`]
/// and the setters (new options may be added without breaking callers).
///
/// ```
/// use receiptdb::{Durability, OpenOptions};
/// let opts = OpenOptions::new().durability(Durability::Full).busy_timeout_ms(200);
/// assert_eq!(opts.busy_timeout_ms, 200);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long to wait for another connection's lock, in milliseconds.
    pub busy_timeout_ms: u64,
    /// Smallest audience whose unread members get indexed (tests lower it
    /// to exercise the index on small groups).
    pub unread_index_min_audience: i64,
    /// Caps the database size in pages (`PRAGMA max_page_count`) for this
    /// connection; a write past it fails with `STORAGE_FULL`.
    pub max_page_count: Option<u64>,
    /// The passphrase of an encrypted store (SQLCipher: the whole file,
    /// its WAL included, unreadable without it). `None`: not encrypted.
    /// A new store is created encrypted with it; see [`OpenOptions::key`].
    pub key: Option<String>,
}

impl std::fmt::Debug for OpenOptions {
    // The key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("durability", &self.durability)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("unread_index_min_audience", &self.unread_index_min_audience)
            .field("max_page_count", &self.max_page_count)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::Normal,
            busy_timeout_ms: 5000,
            unread_index_min_audience: DEFAULT_UNREAD_INDEX_MIN,
            max_page_count: None,
            key: None,
        }
    }
}

impl OpenOptions {
    /// The defaults: [`Durability::Normal`], a 5 s busy timeout.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Sets the commit durability.
    pub fn durability(mut self, d: Durability) -> OpenOptions {
        self.durability = d;
        self
    }

    /// Sets the busy timeout, in milliseconds.
    pub fn busy_timeout_ms(mut self, ms: u64) -> OpenOptions {
        self.busy_timeout_ms = ms;
        self
    }

    /// Sets the smallest audience whose unread members get indexed (at least 1).
    pub fn unread_index_min_audience(mut self, n: i64) -> OpenOptions {
        self.unread_index_min_audience = n.max(1);
        self
    }

    /// Opens (or creates) the store encrypted with this passphrase. A wrong
    /// key, or a key for a store that is not encrypted, is `WRONG_KEY`.
    /// Not available in the browser build.
    pub fn key(mut self, passphrase: impl Into<String>) -> OpenOptions {
        self.key = Some(passphrase.into());
        self
    }

    /// Caps the database size in pages.
    pub fn max_page_count(mut self, pages: u64) -> OpenOptions {
        self.max_page_count = Some(pages);
        self
    }
}
