//! The one error type of receiptdb, with the names and codes of PROTOCOL.md, Errors.

/// Every failure a receiptdb call can report. Each variant has the symbolic
/// name and numeric code of PROTOCOL.md, Errors (see [`Error::name`], [`Error::code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed params, bad lengths, bad `filter`, `count` out of range.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// An ID the store does not hold, where one is required.
    #[error("message not found: {0}")]
    MessageNotFound(String),
    /// A list spans more than one conversation.
    #[error("messages belong to more than one conversation")]
    MixedConversations,
    /// Receipts are switched off, or the group's type is not enabled.
    #[error("read receipts are disabled: {0}")]
    ReceiptsDisabled(String),
    /// Community / AVChatRoom groups, or enabling them.
    #[error("group type {0} does not support read receipts")]
    UnsupportedGroupType(String),
    /// The store belongs to another user.
    #[error("the store belongs to another user")]
    OwnerMismatch,
    /// The file is not a receiptdb store or fails its integrity check.
    #[error("not a receiptdb store or damaged: {0}")]
    StoreCorrupt(String),
    /// The file was written by a newer schema.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The key given does not open the store (wrong, missing for an
    /// encrypted store, or given for one that is not encrypted).
    #[error("the key does not open this store: {0}")]
    WrongKey(String),
    /// A receipt sent for a recalled message, or its member list asked for.
    #[error("message {0} was recalled")]
    MessageRecalled(String),
    /// No member list for this message (Tencent's 10062).
    #[error("no read receipt member list for message {0}")]
    ReceiptInfoNotFound(String),
    /// The disk (or the configured page limit) is full; nothing was written.
    #[error("storage is full")]
    StorageFull,
    /// Another process held the database lock past the busy timeout; retry.
    #[error("the store is busy (locked by another connection); retry")]
    StoreBusy,
    /// The store's file was moved, deleted or replaced under the open
    /// store; nothing more is written (reopen the store).
    #[error("the store's file was moved, deleted or replaced; nothing more is written to it")]
    StoreMoved,
    /// The file or its folder cannot be written: reads answer, writes (and
    /// a pending schema upgrade) do not.
    #[error("the store is read-only: {0}")]
    ReadOnly(String),
    /// An unexpected SQLite failure; the SQLite error, when there is one,
    /// is the source.
    #[error("storage error: {0}")]
    Sqlite(String, #[source] Option<rusqlite::Error>),
    /// An internal failure that is not SQLite's (encoding a value, a
    /// binding's caught panic): a bug, never the caller's input.
    #[error("internal error: {0}")]
    Internal(String),
    /// An I/O failure outside SQLite; the I/O error, when there is one, is
    /// the source. The message never holds a path.
    #[error("i/o error: {0}")]
    Io(String, #[source] Option<std::io::Error>),
}

impl Error {
    /// The symbolic name used in JSON-RPC `error.data.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Error::InvalidParams(_) => "INVALID_PARAMS",
            Error::MessageNotFound(_) => "MESSAGE_NOT_FOUND",
            Error::MixedConversations => "MIXED_CONVERSATIONS",
            Error::ReceiptsDisabled(_) => "RECEIPTS_DISABLED",
            Error::UnsupportedGroupType(_) => "UNSUPPORTED_GROUP_TYPE",
            Error::OwnerMismatch => "OWNER_MISMATCH",
            Error::StoreCorrupt(_) => "STORE_CORRUPT",
            Error::SchemaTooNew { .. } => "SCHEMA_TOO_NEW",
            Error::MessageRecalled(_) => "MESSAGE_RECALLED",
            Error::WrongKey(_) => "WRONG_KEY",
            Error::ReceiptInfoNotFound(_) => "RECEIPT_INFO_NOT_FOUND",
            Error::StorageFull => "STORAGE_FULL",
            Error::StoreBusy => "STORE_BUSY",
            Error::StoreMoved => "STORE_MOVED",
            Error::ReadOnly(_) => "READ_ONLY",
            Error::Sqlite(..) | Error::Internal(..) => "INTERNAL",
            Error::Io(..) => "IO_ERROR",
        }
    }

    /// The numeric code of PROTOCOL.md, Errors (what JSON-RPC `error.code` carries).
    pub fn code(&self) -> i64 {
        match self {
            Error::InvalidParams(_) => -32602,
            Error::MessageNotFound(_) => 2001,
            Error::MixedConversations => 2002,
            Error::ReceiptsDisabled(_) => 2003,
            Error::UnsupportedGroupType(_) => 2004,
            Error::OwnerMismatch => 2005,
            Error::StoreCorrupt(_) => 2006,
            Error::SchemaTooNew { .. } => 2007,
            Error::StorageFull => 2008,
            Error::StoreBusy => 2009,
            Error::StoreMoved => 2010,
            Error::ReadOnly(_) => 2011,
            Error::MessageRecalled(_) => 2012,
            Error::WrongKey(_) => 2013,
            Error::ReceiptInfoNotFound(_) => 10062,
            Error::Sqlite(..) | Error::Internal(..) => -32603,
            Error::Io(..) => -32603,
        }
    }

    /// An internal failure with no SQLite or I/O source (`INTERNAL` on the
    /// wire), e.g. a binding reporting a caught panic.
    pub fn internal(msg: impl Into<String>) -> Error {
        Error::Internal(msg.into())
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidParams(msg.into())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        // Values the schema never stores (bad text, wrong types) mean damage.
        if matches!(
            e,
            rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::Utf8Error(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
        ) {
            return Error::StoreCorrupt("a stored value is damaged".into());
        }
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.code {
                ErrorCode::DiskFull => return Error::StorageFull,
                ErrorCode::ReadOnly => {
                    return Error::ReadOnly("the file or its folder cannot be written".into())
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return Error::StoreBusy,
                // EIO from a write or a sync: the call did not complete,
                // and what was acknowledged before stays.
                ErrorCode::SystemIoFailure => {
                    return Error::Io(
                        "disk I/O error: the call did not complete; retry once the disk is back"
                            .into(),
                        None,
                    )
                }
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return Error::StoreCorrupt("file is not a valid database".into())
                }
                _ => {}
            }
        }
        Error::Sqlite(e.to_string(), Some(e))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // The kind only: an OS message may name a path.
        Error::Io(e.kind().to_string(), Some(e))
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
