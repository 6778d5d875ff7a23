/* SPDX-License-Identifier: MIT */
/*
 * source_int.h - private to src/source/: the pieces of the export importer
 * that are shared between the streaming walker (source_export.c) and the
 * message mapper (source_export_msg.c).
 */
#ifndef TGH_SOURCE_SOURCE_INT_H
#define TGH_SOURCE_SOURCE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/msg.h"

/* What the mapper needs to know about the chat a message belongs to. */
struct source_export_msg_ctx {
    int64_t chat_id; /* signed convention */
    enum msg_chat_type chat_type;
    const char *chat_title; /* NULL when the export has none */
    int64_t observed_at;
    bool is_local_tz;  /* "date" strings are in the TZ zone, not UTC */
    int64_t prev_date; /* of the chat's last imported message; MSG_UNSET before the first */
};

/*
 * Fill ev (msg_event_init()ed) from one message object of the export. obj is
 * borrowed; ev->raw, ev->buttons and ev->action_params take references of
 * their own. Strings are copied into a. A message that cannot become an
 * event returns TGH_EINVAL with the reason recorded (tgh_errf); ev is then
 * to be dropped (msg_batch_pop). The event is not finalized here. An
 * "unsupported" message without a date takes c->prev_date.
 */
TGH_MUSTCHECK tgh_err source_export_msg_fill(const struct source_export_msg_ctx *c, json_t *obj,
                                             struct tgh_arena *a, struct msg_event *ev);

/* What a JSON value is, for error messages: "an object", "a string", ..., "nothing" for NULL. */
const char *source_json_kind(const json_t *v);

#endif
