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
#[derive(Debug, Clone, Copy)]
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
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::Normal,
            busy_timeout_ms: 5000,
            unread_index_min_audience: DEFAULT_UNREAD_INDEX_MIN,
            max_page_count: None,
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

    /// Caps the database size in pages.
    pub fn max_page_count(mut self, pages: u64) -> OpenOptions {
        self.max_page_count = Some(pages);
        self
    }
}
