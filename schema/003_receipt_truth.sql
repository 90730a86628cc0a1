-- receiptdb schema: receipt answers that never contradict themselves.

-- Members who left, with their earliest known join time: a member who leaves
-- stays in the audience of the messages they had read (SPEC §1).
CREATE TABLE former_members (
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    join_time INTEGER,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

-- Early receipts remember the conversation they were given for
-- ('' = given with none: applies whatever the conversation).
CREATE TABLE early_receipts_v3 (
    message_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    read_count      INTEGER NOT NULL DEFAULT 0,
    unread_count    INTEGER,
    peer_read       INTEGER NOT NULL DEFAULT 0,
    self_read       INTEGER NOT NULL DEFAULT 0,
    readers         INTEGER NOT NULL DEFAULT 0,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (message_id, conversation_id)
) WITHOUT ROWID;
INSERT INTO early_receipts_v3(message_id, conversation_id, read_count, unread_count,
                              peer_read, self_read, readers, seq)
    SELECT message_id, '', read_count, unread_count, peer_read, self_read, readers, seq
    FROM early_receipts;
DROP TABLE early_receipts;
ALTER TABLE early_receipts_v3 RENAME TO early_receipts;
CREATE INDEX early_by_age ON early_receipts (seq);

CREATE TABLE early_readers_v3 (
    message_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL,
    PRIMARY KEY (message_id, conversation_id, user_id)
) WITHOUT ROWID;
INSERT INTO early_readers_v3(message_id, conversation_id, user_id)
    SELECT message_id, '', user_id FROM early_readers;
DROP TABLE early_readers;
ALTER TABLE early_readers_v3 RENAME TO early_readers;

-- The early-receipt bound is kept with counters, never by counting the buffer.
INSERT OR REPLACE INTO meta(key, value)
    VALUES ('early_count', (SELECT COUNT(*) FROM early_receipts));
INSERT OR REPLACE INTO meta(key, value)
    VALUES ('early_reader_count', (SELECT COALESCE(SUM(readers), 0) FROM early_receipts));

-- reader_count is now |readers in the audience| (the read list's size).
UPDATE receipts SET reader_count = (
    SELECT COUNT(*) FROM readers r JOIN messages m ON m.rid = r.rid
    WHERE r.rid = receipts.rid AND r.user_id <> m.sender
      AND (NOT EXISTS (SELECT 1 FROM groups g WHERE g.group_id = m.recipient)
           OR EXISTS (SELECT 1 FROM members mb
                      WHERE mb.group_id = m.recipient AND mb.user_id = r.user_id
                        AND (mb.join_time IS NULL OR mb.join_time <= m.time))))
WHERE rid IN (SELECT rid FROM messages WHERE conversation_type = 'GROUP');

-- A C2C receipt is one bit: any evidence about the peer sets it; counts derived.
UPDATE receipts SET
    peer_read = CASE WHEN peer_read <> 0 OR read_count >= 1 OR unread_count = 0 THEN 1 ELSE 0 END
WHERE rid IN (SELECT rid FROM messages WHERE conversation_type = 'C2C' AND is_out = 1 AND need_receipt = 1);
UPDATE receipts SET read_count = peer_read, unread_count = 1 - peer_read
WHERE rid IN (SELECT rid FROM messages WHERE conversation_type = 'C2C' AND is_out = 1 AND need_receipt = 1);
