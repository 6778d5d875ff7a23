/* SPDX-License-Identifier: MIT */
/*
 * fuzz_chat_spec.c - chat specs as users type them (`chats add X`): the
 * parser never crashes or reads out of bounds, and what it accepts is
 * consistent: a chat id is a valid signed id, a username is 4-32 of
 * [A-Za-z0-9_] starting with a letter, an invite link is a t.me link.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collect_resolve.h"
#include "core/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = tgh_malloc(size + 1);
    struct resolve_spec rs;

    memcpy(spec, data, size);
    spec[size] = '\0'; /* a NUL inside cuts the spec short, as on a command line */
    if (resolve_parse(spec, &rs) == TGH_OK) {
        size_t n = strlen(rs.username);

        switch (rs.kind) {
        case RESOLVE_ID:
            if (rs.chat_id == 0)
                abort();
            break;
        case RESOLVE_USERNAME:
            if (n < 4 || n > 32 || !isalpha((unsigned char)rs.username[0]))
                abort();
            for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)rs.username[i]) && rs.username[i] != '_')
                    abort();
            break;
        case RESOLVE_INVITE:
            if (strcasestr(spec, "t.me/") == NULL && strcasestr(spec, "telegram.") == NULL)
                abort();
            break;
        }
    } else if (tgh_errmsg()[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    tgh_free(spec);
    return 0;
}
