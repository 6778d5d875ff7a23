/* SPDX-License-Identifier: MIT */
/*
 * codec.h - the schema_version 1 JSON form of a message event.
 *
 * This is the queue payload and the `event` column of the stores; its shape is
 * documented field by field in docs/internals/model.md. Decoding is strict:
 * unknown keys, wrong types, out-of-range values and oversized fields are
 * errors whose message names the field ("entities[3].offset: ..."), recorded
 * with tgh_errf(). For every valid event, decode(encode(x)) == x.
 */
#ifndef TGH_CORE_CODEC_H
#define TGH_CORE_CODEC_H

#include <stddef.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/msg.h"

/*
 * Check an event the way the decoder would (required fields, ranges, caps,
 * entity bounds). Sources call it before handing an event on.
 */
TGH_MUSTCHECK tgh_err codec_event_validate(const struct msg_event *ev);

/*
 * Compute ev->content_hash: SHA-256 over the canonical JSON of the content
 * fields only (text, entities, media identity, poll, location, contact,
 * action, buttons). Counters, raw, paths and observation times are excluded,
 * so the same message from two sources hashes the same and a view-count
 * change is not an edit. Then validate. Call once per event before it leaves
 * its source.
 */
TGH_MUSTCHECK tgh_err codec_event_finalize(struct msg_event *ev);

/*
 * The event as a new JSON object (caller owns the reference). NULL, with the
 * detail recorded, when a value has no JSON form (a string that is not UTF-8,
 * a NaN); codec_event_validate() rejects such events.
 */
json_t *codec_event_to_json(const struct msg_event *ev);

/*
 * The event as compact JSON text, malloc'd (tgh_free), NUL-terminated. On
 * error *out is NULL: ETOOBIG over MSG_MAX_EVENT_BYTES, EINVAL as for
 * codec_event_to_json().
 */
TGH_MUSTCHECK tgh_err codec_event_encode(const struct msg_event *ev, char **out, size_t *out_len);

/*
 * Encode ev into arena a and remember the text in ev->encoded, so that a
 * writer on another thread does not encode it again. Call after the event's
 * last change.
 */
TGH_MUSTCHECK tgh_err codec_event_encode_cached(struct msg_event *ev, struct tgh_arena *a);

/*
 * Decode JSON text into *ev, strings and arrays in arena a. On error *ev is
 * finalized (msg_event_fini) and must not be used.
 */
TGH_MUSTCHECK tgh_err codec_event_decode(const char *json, size_t len, struct tgh_arena *a,
                                         struct msg_event *ev);

/* The same from an already parsed object (borrowed). */
TGH_MUSTCHECK tgh_err codec_event_from_json(const json_t *obj, struct tgh_arena *a,
                                            struct msg_event *ev);

/*
 * Do two canonical encodings (codec_event_encode) describe the same state,
 * that is, are they equal but for observed_at? Cheap: no parsing.
 */
bool codec_event_same_state(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Merge what two encodings of the same message know into *out (strings in
 * arena a): every key of newer wins, and a key newer lacks, at the top level
 * or inside chat, sender, reply_to, forward, media, poll, location or
 * contact, is taken from older (the canonical JSON text of the stored
 * event). For equal content (content_hash) this only adds knowledge: a
 * source that knows less, like an export without view counts, never erases
 * what another source recorded. *out is validated like a decoded event.
 */
TGH_MUSTCHECK tgh_err codec_event_merge(const char *older, size_t older_len,
                                        const struct msg_event *newer, struct tgh_arena *a,
                                        struct msg_event *out);

/* Field-by-field equality (raw, params and buttons compared as JSON values). */
bool codec_event_equal(const struct msg_event *a, const struct msg_event *b);

#endif
