/* SPDX-License-Identifier: MIT */
/*
 * api_routes_int.h - the handlers the route table names (api_routes.c), by
 * the file that defines them, and the JSON builders two routes share. The
 * server core never includes it: it reaches a handler only through
 * api_routes[] (api_req_int.h). Private to src/api.
 */
#ifndef TGH_API_API_ROUTES_INT_H
#define TGH_API_API_ROUTES_INT_H

#include <jansson.h>

#include "core/err.h"

struct api_req;
struct store;
struct store_run_row;

/* api_status.c */
void api_h_healthz(struct api_req *r);
void api_h_readyz(struct api_req *r);
void api_h_metrics(struct api_req *r);
void api_h_status(struct api_req *r);

/* api_chats.c */
/* Every chat the store has or tracks, as /api/v1/chats and /status list them. */
TGH_MUSTCHECK tgh_err api_chats_list(struct store *st, json_t **out);
void api_h_chats(struct api_req *r);
void api_h_chat_add(struct api_req *r);
void api_h_chat_enable(struct api_req *r);
void api_h_chat_disable(struct api_req *r);
void api_h_chat_backfill(struct api_req *r);
void api_h_chat_gaps(struct api_req *r); /* api_gaps.c */

/* api_messages.c */
void api_h_messages(struct api_req *r);
void api_h_message(struct api_req *r);
void api_h_search(struct api_req *r);
void api_h_stats(struct api_req *r);
void api_h_activity(struct api_req *r);

/* api_admin.c */
json_t *api_run_json(const struct store_run_row *run); /* never NULL */
void api_h_runs(struct api_req *r);
void api_h_dead_letters(struct api_req *r);
void api_h_dead_letter(struct api_req *r);
void api_h_dead_letter_retry(struct api_req *r);
void api_h_dead_letter_resolve(struct api_req *r);

/* api_media.c */
void api_h_message_media(struct api_req *r);
void api_h_media(struct api_req *r);

/* api_sse.c */
void api_h_stream(struct api_req *r);

/* api_assets.c */
void api_h_asset(struct api_req *r);
void api_h_openapi(struct api_req *r);

#endif
