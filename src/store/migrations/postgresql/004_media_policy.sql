-- SPDX-License-Identifier: MIT
-- 004_media_policy.sql - a tracked chat's own media policy (007_media_policy.sql
-- of the SQLite store).
--
-- media_policy is a policy spec ("kinds=photo,video;max=20M;history=none;
-- thumbs=video", see media_policy_apply()) applied over the global TGH_MEDIA_*
-- policy for this chat's messages; NULL: the global policy as it is.
-- store_tracked_set_media_policy() writes it; store_tracked_put() never does.
ALTER TABLE tracked_chats ADD COLUMN media_policy text;
