//! Options of an open store.

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a commit survives a crash of the
    /// process (kill -9); the last commits may be lost on power failure.
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: a commit also survives power loss.
    Full,
}

/// Options for [`Store::open_with`].
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long to wait for another connection's lock, in milliseconds.
    pub busy_timeout_ms: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::Normal,
            busy_timeout_ms: 5000,
        }
    }
}
