-- SPDX-License-Identifier: MIT
-- 006_media.sql - the media archive: download jobs, the content index, and
-- how far the media scanner has read each chat.
--
-- job_history holds one row per file of a message (media_key tells the
-- files of one message apart). state is queued, downloading (next_at is
-- then the claim's lease), stored, failed or skipped. A claim is one UPDATE
-- ... RETURNING, so two claimers never take the same job.
CREATE TABLE job_history (
    id             INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL DEFAULT 'media',
    chat_id        INTEGER NOT NULL,
    message_id     INTEGER NOT NULL,
    media_key      TEXT    NOT NULL,
    date           INTEGER NOT NULL,
    media_kind     TEXT    NOT NULL,
    file_unique_id TEXT,
    file_name      TEXT,
    mime_type      TEXT,
    size           INTEGER NOT NULL DEFAULT 0,
    origin         TEXT    NOT NULL,
    source_path    TEXT,
    priority       INTEGER NOT NULL DEFAULT 1,
    state          TEXT    NOT NULL
                   CHECK (state IN ('queued', 'downloading', 'stored', 'failed', 'skipped')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    next_at        INTEGER NOT NULL DEFAULT 0,
    downloaded     INTEGER NOT NULL DEFAULT 0,
    sha256         TEXT,
    storage_key    TEXT,
    upload_id      TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    UNIQUE (kind, chat_id, message_id, media_key)
);

CREATE INDEX job_history_due ON job_history (kind, state, next_at);

-- One row per stored content: its SHA-256, where its bytes are, and the
-- Telegram file_unique_id it was downloaded as (when known).
CREATE TABLE dedup_index (
    sha256         TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
    storage_key    TEXT    NOT NULL,
    file_unique_id TEXT,
    size_bytes     INTEGER NOT NULL,
    content_type   TEXT,
    created_at     INTEGER NOT NULL
);

CREATE INDEX dedup_index_file ON dedup_index (file_unique_id);

CREATE TABLE media_scan (
    chat_id    INTEGER PRIMARY KEY,
    last_id    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
