-- receiptdb schema v4: read state beyond the seed (issue 23, docs/PROTOCOL.md).

-- Recalled messages (an or-register): their receipt figures stay as they were.
ALTER TABLE messages ADD COLUMN recalled INTEGER NOT NULL DEFAULT 0;

-- The unread mark of a conversation, merged by time (milliseconds):
--   read_time  the newest read to the end (a max-register)
--   mark_time  the newest mark or unmark, mark_on which one it was (at one
--              time an unmark wins)
-- marked = mark_on AND mark_time > read_time (a tie goes to the read).
ALTER TABLE conversations ADD COLUMN read_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN mark_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN mark_on INTEGER NOT NULL DEFAULT 0;

-- Read reports carry the time of the read to the end they report (0: none).
ALTER TABLE read_reports ADD COLUMN read_time INTEGER NOT NULL DEFAULT 0;

-- Marks and unmarks not yet acknowledged by the server: the newest per
-- conversation.
CREATE TABLE mark_reports (
    conversation_id TEXT PRIMARY KEY,
    mark_on         INTEGER NOT NULL,
    mark_time       INTEGER NOT NULL
) WITHOUT ROWID;

-- Delivered vs read (out messages that need a receipt). Who received a
-- message is deliverers ∪ readers: a grow-only set, like readers.
CREATE TABLE deliverers (
    rid     INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (rid, user_id)
) WITHOUT ROWID;
-- delivered_count  max-register: the server's figures joined with
--                  |deliverers ∪ readers in the read audience| at each
--                  delivery merge (answers take it with read_count's max)
-- delivered_local  the store's own count at the last delivery merge (a
--                  delivered list longer than it says nothing; a figure
--                  above it makes the list stale)
-- deliverer_count  rows of `deliverers` for the message
-- peer_delivered   C2C: the peer received it (or)
ALTER TABLE receipts ADD COLUMN delivered_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE receipts ADD COLUMN delivered_local INTEGER NOT NULL DEFAULT 0;
ALTER TABLE receipts ADD COLUMN deliverer_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE receipts ADD COLUMN peer_delivered INTEGER NOT NULL DEFAULT 0;
-- Delivery information kept for messages not held yet, with the read side's.
ALTER TABLE early_receipts ADD COLUMN delivered_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE early_receipts ADD COLUMN peer_delivered INTEGER NOT NULL DEFAULT 0;
-- 1: the user received the message (not known to have read it).
ALTER TABLE early_readers ADD COLUMN delivered_only INTEGER NOT NULL DEFAULT 0;

-- The owner's delivery acks for in messages: 0 none, 1 queued, 2 acked.
ALTER TABLE messages ADD COLUMN delivery_state INTEGER NOT NULL DEFAULT 0;
-- Durable outbox of delivery acks, in batches of their own (never mixed
-- with read receipts). batch_id NULL: not handed out yet.
CREATE TABLE delivery_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    rid             INTEGER NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    batch_id        INTEGER
);
CREATE INDEX delivery_outbox_by_batch ON delivery_outbox (batch_id, seq);
CREATE TABLE delivery_batches (
    batch_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL
);

-- Private reading of a conversation: NULL follows the store's switch (the
-- receipt config), 0 off, 1 on. Under it reading moves the read position as
-- ever, but no read receipt is queued and read reports ask the server not to
-- tell the C2C peer.
ALTER TABLE conversations ADD COLUMN private_reading INTEGER;
-- Read reports remember whether they are private.
ALTER TABLE read_reports ADD COLUMN private INTEGER NOT NULL DEFAULT 0;

-- Read times as the server reports them (unix seconds; the earliest wins;
-- NULL: read, time unknown): per reader of a group message, the C2C peer's
-- on the receipt, and kept with early readers.
ALTER TABLE readers ADD COLUMN read_time INTEGER;
ALTER TABLE receipts ADD COLUMN peer_read_time INTEGER;
ALTER TABLE early_readers ADD COLUMN read_time INTEGER;
