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
