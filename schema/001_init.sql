-- receiptdb schema v1.
-- Key/value settings: app marker, owner, receipt config, counters.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE groups (
    group_id   TEXT PRIMARY KEY,
    group_type TEXT NOT NULL
) WITHOUT ROWID;

-- join_time NULL: member since the beginning.
CREATE TABLE members (
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    join_time INTEGER,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

CREATE TABLE conversations (
    conversation_id TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    unread_count    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- rid is the compact internal key used by readers, receipts and the outbox.
--   sent_state    0 none, 1 pending, 2 acked (in messages)
CREATE TABLE messages (
    rid               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    conversation_id   TEXT NOT NULL,
    conversation_type TEXT NOT NULL,
    sender            TEXT NOT NULL,
    recipient         TEXT NOT NULL,
    time              INTEGER NOT NULL,
    sequence          INTEGER NOT NULL,
    is_out            INTEGER NOT NULL,
    status            TEXT NOT NULL,
    need_receipt      INTEGER NOT NULL,
    payload           TEXT NOT NULL,
    is_peer_read      INTEGER NOT NULL DEFAULT 0,
    sent_state        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_conv ON messages (conversation_id, sequence, time, rid);

-- Receipt state of each message (one row per message, same rid), in a narrow
-- table so a merge rewrites a few bytes, not the message; every count is read,
-- never computed:
--   read_count     max-register (>= reader_count)
--   unread_count   min-register, NULL = not known yet
--   local_unread   |audience| - |readers in audience|, NULL when members unknown
--   peer_read      C2C receipt flag (or)
--   unread_indexed 1 when unread_members holds this message's unread list
CREATE TABLE receipts (
    rid            INTEGER PRIMARY KEY,
    read_count     INTEGER NOT NULL DEFAULT 0,
    unread_count   INTEGER,
    local_unread   INTEGER,
    peer_read      INTEGER NOT NULL DEFAULT 0,
    reader_count   INTEGER NOT NULL DEFAULT 0,
    unread_indexed INTEGER NOT NULL DEFAULT 0
);

-- Readers of out group messages: a grow-only set.
CREATE TABLE readers (
    rid     INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (rid, user_id)
) WITHOUT ROWID;

-- The unread members of big, mostly-read messages (unread_indexed = 1),
-- kept so unread pages stay an index seek when readers are dense.
CREATE TABLE unread_members (
    rid     INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (rid, user_id)
) WITHOUT ROWID;

-- Receipt state for messages not held yet (bounded; see docs/DESIGN.md).
CREATE TABLE early_receipts (
    message_id   TEXT PRIMARY KEY,
    read_count   INTEGER NOT NULL DEFAULT 0,
    unread_count INTEGER,
    peer_read    INTEGER NOT NULL DEFAULT 0,
    self_read    INTEGER NOT NULL DEFAULT 0,
    readers      INTEGER NOT NULL DEFAULT 0,
    seq          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX early_by_age ON early_receipts (seq);
CREATE TABLE early_readers (
    message_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;

-- Durable outbox of receipts the owner sends. batch_id NULL: not handed out yet.
-- seq gives queue order and never repeats.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    rid             INTEGER NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    batch_id        INTEGER
);
CREATE INDEX outbox_by_batch ON outbox (batch_id, seq);

CREATE TABLE batches (
    batch_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL
);

-- Count of outbox rows, kept in step so events never count the outbox.
INSERT INTO meta(key, value) VALUES ('outbox_count', '0');
