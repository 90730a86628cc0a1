-- Deleting messages and clearing history (PROTOCOL.md, Deleting messages).
-- A deleted message's ID, so no later save, snapshot or notification
-- brings it back.
CREATE TABLE deleted_messages (
    message_id      TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL
) WITHOUT ROWID;
-- History cleared up to this sequence: a sent message at or below it that
-- arrives later is old history and is not saved.
ALTER TABLE conversations ADD COLUMN cleared_seq INTEGER NOT NULL DEFAULT 0;

-- Every reader row a message has (in its audience or not): when all but the
-- sender's count (reader_count), a read page is a plain keyset walk.
ALTER TABLE receipts ADD COLUMN reader_rows INTEGER NOT NULL DEFAULT 0;
UPDATE receipts SET reader_rows = (SELECT COUNT(*) FROM readers x WHERE x.rid = receipts.rid)
WHERE rid IN (SELECT rid FROM readers);
