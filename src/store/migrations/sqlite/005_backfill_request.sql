-- SPDX-License-Identifier: MIT
-- 005_backfill_request.sql - an operator's "backfill now" for a tracked chat.
--
-- backfill_requested_at is when the request was made (Unix seconds); NULL:
-- none pending. store_tracked_request_backfill() sets it; the collector runs
-- a backfill pass and clears it with store_tracked_backfill_done(), which
-- clears it only while it still holds the time the pass was started for,
-- so a request made during the pass is not lost. store_tracked_put() never
-- writes it.
ALTER TABLE tracked_chats ADD COLUMN backfill_requested_at INTEGER;
