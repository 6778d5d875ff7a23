-- SPDX-License-Identifier: MIT
-- 005_bot.sql - the archive bot: how far it read its updates, and what it
-- archived, so a post forwarded twice is recognised.
--
-- bot_state.next_update_id is the getUpdates offset: every update below it
-- was stored (or deliberately skipped) before the row was written, so after
-- a crash the Bot API delivers again what was not, and nothing is lost.
CREATE TABLE bot_state (
    bot_id           BIGINT  PRIMARY KEY, -- the bot's user id (getMe)
    username         TEXT,
    next_update_id   BIGINT  NOT NULL DEFAULT 0,
    last_update_type TEXT,                -- "message", "edited_message", ...
    last_update_at   BIGINT,              -- when the last update was handled
    updated_at       BIGINT  NOT NULL
);

-- One row per archived content: item_key is "fwd:<chat>:<message>" for a
-- forwarded post (its origin), else "hash:<content_hash>" per user; the row
-- names the first message that brought it.
CREATE TABLE bot_items (
    item_key   TEXT    PRIMARY KEY,
    chat_id    BIGINT  NOT NULL,
    message_id BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL
);
