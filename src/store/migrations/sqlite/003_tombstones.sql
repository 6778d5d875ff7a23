-- SPDX-License-Identifier: MIT
-- Deletions of messages the store does not have (yet): a live collection can
-- see a deletion before the message, and a replayed batch may hold the delete
-- before the upsert. The message is inserted already tombstoned when it
-- arrives, so applying the same events in any order, any number of times,
-- ends in the same state. Also the record of ids deleted on Telegram that gap
-- detection needs.
CREATE TABLE tombstones (
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    source     TEXT    NOT NULL, -- the event's source: who saw the deletion
    PRIMARY KEY (chat_id, message_id)
) WITHOUT ROWID;
