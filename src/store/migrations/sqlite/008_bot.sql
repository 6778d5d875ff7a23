-- SPDX-License-Identifier: MIT
-- 008_bot.sql - the archive bot: how far it read its updates, and what it
-- archived, so a post forwarded twice is recognised.
--
-- bot_state.next_update_id is the getUpdates offset: every update below it
-- was stored (or deliberately skipped) before the row was written, so after
-- a crash the Bot API delivers again what was not, and nothing is lost.
CREATE TABLE bot_state (
    bot_id           INTEGER PRIMARY KEY, -- the bot's user id (getMe)
    username         TEXT,
    next_update_id   INTEGER NOT NULL DEFAULT 0,
    last_update_type TEXT,                -- "message", "edited_message", ...
    last_update_at   INTEGER,             -- when the last update was handled
    updated_at       INTEGER NOT NULL
);

-- One row per archived content: item_key is "fwd:<chat>:<message>" for a
-- forwarded post (its origin), else "hash:<content_hash>" per user; the row
-- names the first message that brought it.
CREATE TABLE bot_items (
    item_key   TEXT    PRIMARY KEY,
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
