/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - the .env parser and the URL parser on arbitrary bytes.
 * The first byte picks the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tgh_err
check_pair(void *arg, const char *key, const char *value, int line)
{
    (void)arg;
    if (key[0] == '\0' || strlen(key) >= 128 || line <= 0 || value == NULL)
        abort();
    return TGH_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        if (tgh_env_parse((const char *)data + 1, size - 1, check_pair, NULL) != TGH_OK &&
            tgh_errmsg()[0] == '\0')
            abort(); /* every failure explains itself */
    } else {
        char *s = tgh_strndup((const char *)data + 1, size - 1);
        struct tgh_url u;
        char buf[256];

        if (tgh_url_parse(s, &u) == TGH_OK) {
            if (u.scheme == NULL || u.rest == NULL || u.host == NULL || u.path == NULL)
                abort();
            tgh_url_fini(&u);
        }
        tgh_url_redact(s, buf, sizeof(buf));
        tgh_free(s);
    }
    return 0;
}
