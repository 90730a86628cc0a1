-- receiptdb schema v2: conversation read state as a lattice (issue 11).
-- read_seq / peer_read_seq: max-registers (SPEC §2). unread_count becomes
-- the count of held `in` messages with status success and sequence > read_seq,
-- kept in step by the code (concerns/conversations.rs); last_*: the newest
-- held message (by sequence, time, rid), for the conversation list.
ALTER TABLE conversations ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN peer_read_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN last_rid INTEGER;
ALTER TABLE conversations ADD COLUMN last_time INTEGER;
ALTER TABLE conversations ADD COLUMN last_seq INTEGER;
CREATE INDEX conversations_by_last
    ON conversations (last_time DESC, last_seq DESC, conversation_id)
    WHERE last_rid IS NOT NULL;
CREATE INDEX conversations_unread ON conversations (conversation_id) WHERE unread_count > 0;

-- The unread candidates (counting above a position is an index range) and
-- the out messages the peer has not read yet (a peer position marks a range).
CREATE INDEX messages_unread ON messages (conversation_id, sequence)
    WHERE is_out = 0 AND status = 'success';
CREATE INDEX messages_peer_unread ON messages (conversation_id, sequence)
    WHERE is_out = 1 AND is_peer_read = 0 AND status = 'success';

-- Read reports not yet acknowledged: the highest position per conversation.
CREATE TABLE read_reports (
    conversation_id TEXT PRIMARY KEY,
    read_seq        INTEGER NOT NULL
) WITHOUT ROWID;

-- Upgrade rule (docs/DESIGN.md): the read position of an existing
-- conversation is the sequence of its (unread+1)-th newest held success `in`
-- message, 0 when it holds fewer; the unread count is then recounted by its
-- definition (equal to the old tally unless sequences tie or an unread
-- message was not `success`).
UPDATE conversations SET read_seq = r.sequence
FROM (SELECT m.conversation_id, m.sequence,
             row_number() OVER (PARTITION BY m.conversation_id
                                ORDER BY m.sequence DESC, m.time DESC, m.rid DESC) AS k
      FROM messages m WHERE m.is_out = 0 AND m.status = 'success') AS r
WHERE r.conversation_id = conversations.conversation_id
  AND r.k = max(conversations.unread_count, 0) + 1;
UPDATE conversations SET unread_count = (
    SELECT count(*) FROM messages m
    WHERE m.conversation_id = conversations.conversation_id
      AND m.is_out = 0 AND m.status = 'success' AND m.sequence > conversations.read_seq);
UPDATE conversations SET (last_rid, last_time, last_seq) = (
    SELECT m.rid, m.time, m.sequence FROM messages m
    WHERE m.conversation_id = conversations.conversation_id
    ORDER BY m.sequence DESC, m.time DESC, m.rid DESC LIMIT 1);
INSERT INTO meta(key, value)
    SELECT 'total_unread', CAST(COALESCE(SUM(unread_count), 0) AS TEXT) FROM conversations;
