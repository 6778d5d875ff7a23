-- SPDX-License-Identifier: MIT
-- 006_gaps.sql - completeness: the runs of message ids a chat's archive
-- lacks, classified by asking Telegram, the window of each deletion that
-- was found later rather than seen when it happened, and the flood waits of
-- each collection run (for the data-quality report).
--
-- A run is leading (before the oldest stored id: history not yet walked, or
-- before the start Telegram gives), inner (between stored ids) or trailing
-- (after the newest: not yet caught up). Its class: unknown (not checked
-- yet), deleted (Telegram has no message there; the ids are tombstones),
-- missed (Telegram had them and the archive did not: they were fetched and
-- stored, and the row stays as the record of it), inaccessible (history the
-- account cannot read: before it joined, a private range).
CREATE TABLE gaps (
    chat_id    bigint NOT NULL,
    first_id   bigint NOT NULL,
    last_id    bigint NOT NULL,
    class      text    NOT NULL CHECK (class IN ('unknown', 'deleted', 'missed', 'inaccessible')),
    position   text    NOT NULL CHECK (position IN ('leading', 'inner', 'trailing')),
    checked_at bigint NOT NULL, -- when it was classified (or found, for unknown)
    detail     text,
    PRIMARY KEY (chat_id, first_id)
);

-- A deletion found by a gap check: it happened after deleted_after (the
-- message last seen, or the earliest it can have existed) and before
-- found_at, the deleted_at of its tombstone. Never a guessed time.
CREATE TABLE deletion_windows (
    chat_id       bigint NOT NULL,
    message_id    bigint NOT NULL,
    deleted_after bigint NOT NULL,
    found_at      bigint NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

-- The flood waits (429) a collection run met, and the seconds it waited.
ALTER TABLE collection_runs ADD COLUMN flood_waits bigint NOT NULL DEFAULT 0;
ALTER TABLE collection_runs ADD COLUMN flood_seconds bigint NOT NULL DEFAULT 0;
