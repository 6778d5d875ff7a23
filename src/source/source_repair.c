/* SPDX-License-Identifier: MIT */
/*
 * source_repair.c - what the readers of outside formats repair or leave out
 * to keep a message, and the warnings that say so.
 *
 * The event schema stays strict (codec_validate.c); the readers do not drop
 * a message for a part they can repair: an entity reaching past the end of
 * its text is clipped (or dropped when it starts past it), a boolean written
 * as "true"/"false" is read as the boolean, a content kind or action the
 * reader does not know is kept under its own name (its JSON stays in raw).
 * Each repair is a warning {"kind", "path", "detail"} noted on the reading
 * thread while one message is mapped, and attached to its event
 * (ev->warnings): stored with the message, counted per chat and kind by the
 * report. Only what cannot be read as a message at all is a dead letter.
 */
#include "source/source_int.h"

#include <stdarg.h>
#include <string.h>

#include "core/jpath.h"

static _Thread_local json_t *notes; /* the warnings of the message being mapped */

void
source_warn_begin(void)
{
    json_decref(notes);
    notes = NULL;
}

void
source_warn(const char *kind, const struct tgh_jpath *at, const char *key, const char *fmt, ...)
{
    char where[128], what[256];
    va_list ap;

    if (notes == NULL)
        notes = json_array();
    if (json_array_size(notes) >= MSG_MAX_WARNINGS)
        return;
    tgh_jpath_format(at, key, "message", where, sizeof(where));
    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    (void)json_array_append_new(
        notes, json_pack("{s:s,s:s,s:s}", "kind", kind, "path", where, "detail", what));
}

void
source_warn_attach(struct msg_event *ev)
{
    source_repair_entities(ev);
    if (notes != NULL && json_array_size(notes) > 0) {
        json_decref(ev->warnings);
        ev->warnings = notes;
    } else {
        json_decref(notes);
    }
    notes = NULL;
}

void
source_repair_entities(struct msg_event *ev)
{
    int64_t len;
    size_t o = 0;

    if (ev->n_entities == 0)
        return;
    len = ev->text != NULL ? msg_utf16_len(ev->text, strlen(ev->text)) : 0;
    for (size_t i = 0; i < ev->n_entities; i++) {
        struct msg_entity e = ev->entities[i];
        const struct tgh_jpath *at = TGH_JPATH_IDX(TGH_JPATH_KEY(NULL, "entities"), i);

        if (e.offset < 0 || e.length < 0 || e.offset >= len) {
            source_warn("entity_dropped", at, NULL,
                        "%s at %lld+%lld starts past the end of its text (%lld UTF-16 units)",
                        e.type != NULL ? e.type : "entity", (long long)e.offset,
                        (long long)e.length, (long long)len);
            continue;
        }
        if (e.offset + e.length > len) {
            source_warn("entity_clipped", at, NULL,
                        "%s at %lld+%lld reached past the end of its text (%lld UTF-16 units)",
                        e.type != NULL ? e.type : "entity", (long long)e.offset,
                        (long long)e.length, (long long)len);
            e.length = len - e.offset;
        }
        ev->entities[o++] = e;
    }
    ev->n_entities = o;
}
