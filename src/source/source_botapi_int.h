/* SPDX-License-Identifier: MIT */
/*
 * source_botapi_int.h - private to the Bot API mapper (source_botapi_*.c).
 * It reads JSON with the TDLib mapper's typed accessors (source_tdlib_int.h),
 * which name the path of whatever is wrong; the Bot API writes every integer
 * as a JSON number and has no "@type".
 */
#ifndef TGH_SOURCE_SOURCE_BOTAPI_INT_H
#define TGH_SOURCE_SOURCE_BOTAPI_INT_H

#include "source/source_tdlib_int.h"

/* The place of the Message itself, where every path of a value starts. */
#define BOT_ROOT ((const struct tgh_jpath *)NULL)

/*
 * Dates are Unix seconds; a value that can only be milliseconds (after the
 * year 5138 in seconds, as some Bot API emulators write dates) is read as
 * milliseconds.
 */
static inline int64_t
botapi_seconds(int64_t v)
{
    return v > INT64_C(100000000000) ? v / 1000 : v;
}

/* "First Last" of a User or a private Chat (in a when both are set), or NULL. */
const char *botapi_person_name(const json_t *o, struct tgh_arena *a);

/* The content of a Message (text, media, poll, ..., service fields) into ev. */
TGH_MUSTCHECK tgh_err source_botapi_content_map(const json_t *msg, struct tgh_arena *a,
                                                struct msg_event *ev);

#endif
