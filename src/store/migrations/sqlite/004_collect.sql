-- SPDX-License-Identifier: MIT
-- 004_collect.sql - what the collector collects and how far it got.
--
-- tracked_chats is the user's list (`tgharvest chats add`); cursors record,
-- per chat and thread, which server message ids are already committed.
-- A cursor is written only after the messages it covers were committed, so
-- after any crash it is at or behind the messages, never ahead of them.
-- These tables supersede the collector columns of `chats` in 001_init.sql
-- (status, enabled, newest_message_id, ...), which nothing writes.
-- Times are Unix seconds (UTC).

CREATE TABLE tracked_chats (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
                                                -- row id, used by the CLI and the API;
                                                -- never reused after a remove
    spec              TEXT    NOT NULL UNIQUE,  -- what the user gave, as given:
                                                -- "@name", "-100123", a t.me or invite link
    chat_id           INTEGER UNIQUE,           -- the resolved chat; NULL until resolved
                                                -- (the API's 0), so unresolved rows never clash
    account           TEXT,                     -- account that collects it; NULL: the default
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
                                                -- collected by `collect` and `run` when 1
    status            TEXT    NOT NULL DEFAULT 'new'
                              CHECK (status IN ('new', 'ok', 'error')),
                                                -- new: never collected; ok: last run fine;
                                                -- error: see `error`, not retried until
                                                -- the chat is enabled again
    error             TEXT,                     -- why, when status is 'error'
    type              TEXT,                     -- msg_chat_type_name(): channel, supergroup, ...
    title             TEXT,                     -- as last resolved
    username          TEXT,                     -- public username without '@', as last resolved
    linked_chat_id    INTEGER,                  -- a channel's discussion group (comments)
    is_forum          INTEGER NOT NULL DEFAULT 0, -- a supergroup with forum topics
    comments          INTEGER NOT NULL DEFAULT 0, -- also collect comment threads of posts
    topics            INTEGER NOT NULL DEFAULT 0, -- forum: collect history per topic
    added_at          INTEGER NOT NULL,         -- when the row was created
    updated_at        INTEGER NOT NULL,         -- last change of the row
    last_collected_at INTEGER                   -- last run that finished ok; NULL: never
);

-- `tgharvest chats remove Name` finds @name: usernames compare without case.
CREATE INDEX tracked_chats_username ON tracked_chats (username COLLATE NOCASE);

-- One row per chat and thread. Ids are server message ids; 0 means "none yet".
-- Every message with an id from oldest_id up to newest_id is committed. A
-- catch-up walk in progress (gap_hi != 0) goes down from gap_hi: ids from
-- gap_from up to gap_hi are committed, those between newest_id and gap_from
-- are not yet.
CREATE TABLE cursors (
    chat_id    INTEGER NOT NULL,           -- the chat (not necessarily tracked any more)
    thread_id  INTEGER NOT NULL DEFAULT 0, -- 0: the chat's own history; otherwise a
                                           -- comment thread's root post or a forum topic
    newest_id  INTEGER NOT NULL DEFAULT 0, -- newest message collected without a gap below
    oldest_id  INTEGER NOT NULL DEFAULT 0, -- backfill went down to here
    complete   INTEGER NOT NULL DEFAULT 0, -- 1: backfill reached the start of the history
    gap_hi     INTEGER NOT NULL DEFAULT 0, -- catch-up in progress: newest id of the walk
    gap_from   INTEGER NOT NULL DEFAULT 0, -- catch-up in progress: where the walk goes
                                           -- on (exclusive)
    updated_at INTEGER NOT NULL,           -- last write of the row
    PRIMARY KEY (chat_id, thread_id)
) WITHOUT ROWID;
