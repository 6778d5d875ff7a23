/* SPDX-License-Identifier: MIT */
/*
 * api_routes.c - the route table: each route's method, path, least role,
 * handler, query parameters and label in metrics. The server (api_http.c)
 * dispatches on it; it is the one place that names every handler.
 */
#include "api/api.h"

#include "api/api_req_int.h"
#include "api/api_routes_int.h"

const struct api_route api_routes[] = {
    { "GET", "/healthz", API_ROLE_NONE, api_h_healthz, "", "healthz" },
    { "GET", "/readyz", API_ROLE_NONE, api_h_readyz, "", "readyz" },
    { "GET", "/metrics", API_ROLE_READ, api_h_metrics, "", "metrics" },
    { "GET", "/status", API_ROLE_READ, api_h_status, "", "status" },
    { "GET", "/api/v1/openapi.json", API_ROLE_NONE, api_h_openapi, "", "openapi" },
    { "GET", "/api/v1/chats", API_ROLE_READ, api_h_chats, "", "chats" },
    { "POST", "/api/v1/chats", API_ROLE_ADMIN, api_h_chat_add, "", "chat_add" },
    { "POST", "/api/v1/chats/{}/enable", API_ROLE_ADMIN, api_h_chat_enable, "", "chat_enable" },
    { "POST", "/api/v1/chats/{}/disable", API_ROLE_ADMIN, api_h_chat_disable, "", "chat_disable" },
    { "POST", "/api/v1/chats/{}/backfill", API_ROLE_ADMIN, api_h_chat_backfill, "",
      "chat_backfill" },
    { "GET", "/api/v1/chats/{}/messages", API_ROLE_READ, api_h_messages,
      "after_id,before_id,since,until,limit,order,include_deleted", "messages" },
    { "GET", "/api/v1/chats/{}/messages/{}", API_ROLE_READ, api_h_message, "", "message" },
    { "GET", "/api/v1/chats/{}/gaps", API_ROLE_READ, api_h_chat_gaps, "", "chat_gaps" },
    { "GET", "/api/v1/chats/{}/messages/{}/media", API_ROLE_READ, api_h_message_media, "",
      "message_media" },
    { "GET", "/api/v1/media/{}", API_ROLE_READ, api_h_media, "", "media" },
    { "GET", "/api/v1/search", API_ROLE_READ, api_h_search, "q,chat,since,until,limit", "search" },
    { "GET", "/api/v1/stats", API_ROLE_READ, api_h_stats, "", "stats" },
    { "GET", "/api/v1/stats/activity", API_ROLE_READ, api_h_activity, "chat,since,until,bucket",
      "activity" },
    { "GET", "/api/v1/runs", API_ROLE_READ, api_h_runs, "chat,kind,status,before_id,limit",
      "runs" },
    { "GET", "/api/v1/dead-letters", API_ROLE_READ, api_h_dead_letters,
      "state,source,before_id,limit", "dead_letters" },
    { "GET", "/api/v1/dead-letters/{}", API_ROLE_READ, api_h_dead_letter, "", "dead_letter" },
    { "POST", "/api/v1/dead-letters/{}/retry", API_ROLE_ADMIN, api_h_dead_letter_retry, "",
      "dead_letter_retry" },
    { "POST", "/api/v1/dead-letters/{}/resolve", API_ROLE_ADMIN, api_h_dead_letter_resolve, "",
      "dead_letter_resolve" },
    { "GET", "/api/v1/stream", API_ROLE_READ, api_h_stream, "chat,kinds,last_event_id", "stream" },
    /* The dashboard is public: it holds no data, and asks for a key before any. */
    { "GET", "/", API_ROLE_NONE, api_h_asset, "", "dashboard" },
    { "GET", "/assets/*", API_ROLE_NONE, api_h_asset, "", "dashboard" },
    { NULL, NULL, API_ROLE_NONE, NULL, NULL, NULL },
};
