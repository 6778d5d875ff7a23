/* SPDX-License-Identifier: MIT */
/*
 * source_int.h - private to src/source/: the pieces of the export importer
 * that are shared between the streaming walker (source_export.c) and the
 * message mapper (source_export_msg.c), and the reader of JSON value
 * streams behind `decode --from tdlib|botapi` (source_decode.c).
 */
#ifndef TGH_SOURCE_SOURCE_INT_H
#define TGH_SOURCE_SOURCE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/msg.h"
#include "source/source.h"

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

/*
 * A stream of JSON values being decoded: each value goes to value(), which
 * pushes events into b (source_dec_flush hands a full batch to the sink)
 * and reports what cannot be mapped with source_dec_dead_json; path names
 * the place inside the value ("result[2].message", "" for the value).
 * pos is where the value starts ("line 3 (byte 120)").
 */
struct source_dec;
typedef tgh_err (*source_dec_value_fn)(struct source_dec *d, const json_t *v);

struct source_dec {
    const struct source_export_sink *sink;
    struct source_export_summary s;
    struct msg_batch b;
    size_t batch_bytes; /* source bytes behind the events in b */
    int64_t observed_at;
    char pos[64];
    source_dec_value_fn value;
    void *arg;
};

TGH_MUSTCHECK tgh_err source_dec_flush(struct source_dec *d);
TGH_MUSTCHECK tgh_err source_dec_dead_json(struct source_dec *d, const char *path,
                                           const char *reason, const json_t *v);
/*
 * One message object mapped by map, finalized and pushed; one that cannot
 * be is a dead letter at path. The same for an object of deletions (its
 * ids under ids_key; more than a batch holds get a batch of their own).
 */
typedef tgh_err (*source_dec_map_fn)(const json_t *msg, int64_t observed_at, struct tgh_arena *a,
                                     struct msg_event *ev);
typedef tgh_err (*source_dec_deletes_fn)(const json_t *u, int64_t observed_at, struct msg_batch *b,
                                         size_t *n);
TGH_MUSTCHECK tgh_err source_dec_message(struct source_dec *d, const json_t *msg, const char *path,
                                         source_dec_map_fn map);
TGH_MUSTCHECK tgh_err source_dec_deletes(struct source_dec *d, const json_t *u, const char *ids_key,
                                         const char *path, source_dec_deletes_fn fn);

/* A value that is not an error and yields nothing (sink->skipped). */
TGH_MUSTCHECK tgh_err source_dec_skipped(struct source_dec *d, const char *path, const char *why);

/*
 * Read f as whitespace-separated JSON values, each to value (arg is d->arg);
 * the contract of source_tdlib_decode_stream() otherwise.
 */
TGH_MUSTCHECK tgh_err source_dec_stream(FILE *f, const char *name,
                                        const struct source_export_opts *o,
                                        const struct source_export_sink *sink,
                                        struct source_export_summary *sum,
                                        source_dec_value_fn value, void *arg);

/* What a JSON value is, for error messages: "an object", "a string", ..., "nothing" for NULL. */
const char *source_json_kind(const json_t *v);

/* ---- source_repair.c: warnings of the message being mapped (this thread) ---- */

struct tgh_jpath;

/* Forget the warnings noted so far: the start of a message. */
void source_warn_begin(void);
/* Note a repair: kind ("bool_as_string", ...), where (at, then key), and what. */
void source_warn(const char *kind, const struct tgh_jpath *at, const char *key, const char *fmt,
                 ...) TGH_PRINTF(4, 5);
/* Repair ev's entities, then hand the warnings noted to ev->warnings (none: left NULL). */
void source_warn_attach(struct msg_event *ev);
/* Clip entities reaching past the end of the text; drop those starting past it. */
void source_repair_entities(struct msg_event *ev);

#endif
