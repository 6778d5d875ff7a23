-- SPDX-License-Identifier: MIT
-- 001_init.sql - the first SQLite schema of the message store.
--
-- Times are Unix seconds (UTC) in INTEGER columns. NULL means "unknown" for
-- optional message fields, as MSG_UNSET does in the event. Rows of messages
-- are never deleted by the program: deletions are tombstones (deleted_at).
-- docs/internals/store.md explains every rule; store_sqlite.c applies this
-- file in one transaction and records it in schema_migrations.

-- One row per chat named by an event, plus the collector's cursor and status.
CREATE TABLE chats (
    chat_id           INTEGER PRIMARY KEY,
    type              TEXT    NOT NULL DEFAULT 'unknown',
    title             TEXT,
    username          TEXT,
    status            TEXT    NOT NULL DEFAULT 'active',
    status_reason     TEXT,
    enabled           INTEGER NOT NULL DEFAULT 1,
    newest_message_id INTEGER,
    oldest_message_id INTEGER,
    backfill_complete INTEGER NOT NULL DEFAULT 0,
    last_collected_at INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

-- The current version of every message. `id` is a stable rowid for the
-- external-content FTS index (an implicit rowid could change on VACUUM).
CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY,
    chat_id             INTEGER NOT NULL REFERENCES chats (chat_id),
    message_id          INTEGER NOT NULL,
    date                INTEGER NOT NULL,
    edit_date           INTEGER,
    sender_id           INTEGER,
    sender_type         TEXT,
    sender_name         TEXT,
    text                TEXT,
    thread_id           INTEGER,
    reply_to_message_id INTEGER,
    media_kind          TEXT,
    views               INTEGER,
    forwards            INTEGER,
    replies             INTEGER,
    reactions           TEXT,   -- JSON array, NULL when never known
    source              TEXT    NOT NULL,
    content_hash        TEXT    NOT NULL CHECK (length(content_hash) = 64),
    idempotency_key     TEXT    NOT NULL,
    event               TEXT    NOT NULL, -- schema-v1 JSON of the current version
    first_seen_at       INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    deleted_at          INTEGER,
    version_count       INTEGER NOT NULL DEFAULT 0, -- rows in message_versions
    UNIQUE (chat_id, message_id)
);

CREATE INDEX messages_chat_date ON messages (chat_id, date);
CREATE INDEX messages_date ON messages (date);

-- Previous versions: the row as it was before a content change.
CREATE TABLE message_versions (
    chat_id       INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    version       INTEGER NOT NULL, -- 1, 2, ... in the order they were recorded
    content_hash  TEXT    NOT NULL,
    edit_date     INTEGER,
    text          TEXT,
    event         TEXT    NOT NULL,
    superseded_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id, version),
    FOREIGN KEY (chat_id, message_id) REFERENCES messages (chat_id, message_id)
);

-- One row per chat and run (import, backfill, live, ...); chat_id is NULL
-- for runs that span chats (a whole export).
CREATE TABLE collection_runs (
    id            INTEGER PRIMARY KEY,
    chat_id       INTEGER,
    kind          TEXT    NOT NULL,
    origin        TEXT,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    status        TEXT    NOT NULL DEFAULT 'running',
    messages_seen INTEGER NOT NULL DEFAULT 0,
    inserted      INTEGER NOT NULL DEFAULT 0,
    versioned     INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    refreshed     INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    error         TEXT
);

CREATE INDEX collection_runs_chat ON collection_runs (chat_id, started_at);

-- Dead letters: input that could not become an event.
CREATE TABLE ingestion_errors (
    id          INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    origin      TEXT,
    position    TEXT,
    reason      TEXT    NOT NULL,
    payload     TEXT,
    created_at  INTEGER NOT NULL,
    retry_count INTEGER NOT NULL DEFAULT 0,
    resolved_at INTEGER
);

CREATE INDEX ingestion_errors_open ON ingestion_errors (created_at) WHERE resolved_at IS NULL;

-- Full-text index over messages.text, kept in sync by the triggers below.
-- remove_diacritics 2 folds accents for every script unicode61 knows, so
-- "cafe" finds "café" and Cyrillic is tokenized and case-folded.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.text IS NOT NULL
BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.text IS NOT new.text
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL;
    INSERT INTO messages_fts (rowid, text)
        SELECT new.id, new.text WHERE new.text IS NOT NULL;
END;

-- The program never deletes messages; this keeps the index right if an
-- operator or a retention job does.
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.text IS NOT NULL
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
