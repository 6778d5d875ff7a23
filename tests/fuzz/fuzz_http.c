/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c - what HTTP clients send, parsed as the server parses it: the
 * route of a method and path, the stream's chat and kind filters, a
 * Last-Event-ID, dates and integers of query parameters, and API key lists
 * and files. Input: fields separated by newlines, in that order; the whole
 * input is also read as a key file. Nothing crashes, and what is accepted
 * is consistent.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/feed.h"
#include "core/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS 8

static void
check_route(const char *method, const char *path)
{
    int64_t args[2] = { 0, 0 };
    const char *name = api_route_name(method, path, args);

    if (name == NULL)
        return;
    /* A route matched: the path was a real route's, so it starts with '/' and has no NUL. */
    if (path[0] != '/' || strlen(name) == 0)
        abort();
}

static void
check_filter(const char *chats, const char *kinds)
{
    struct api_stream_filter f;

    if (api_stream_filter_parse(chats, kinds, &f) != TGH_OK) {
        if (tgh_errmsg()[0] == '\0')
            abort();
        return;
    }
    if (f.nchats > API_STREAM_CHATS || f.kinds == 0 || f.kinds > 7)
        abort();
    for (size_t i = 0; i < f.nchats; i++)
        if (f.chats[i] == 0)
            abort();
}

static void
check_id(const char *s)
{
    struct tgh_feed_id id, back;
    char buf[48];

    if (tgh_feed_id_parse(s, &id) != TGH_OK)
        return;
    /* What parses formats back to something that parses to the same id. */
    tgh_feed_id_format(&id, buf, sizeof(buf));
    if (tgh_feed_id_parse(buf, &back) != TGH_OK || tgh_feed_id_cmp(&id, &back) != 0)
        abort();
}

static void
check_numbers(const char *date, const char *num)
{
    int64_t t, v;

    if (tgh_time_parse(date, &t) == TGH_OK && (t < 0 || t > TGH_TIME_MAX))
        abort();
    if (tgh_int_parse(num, 1, 1000, &v) == TGH_OK && (v < 1 || v > 1000))
        abort();
}

static void
check_keys(const char *text, size_t len, bool lines)
{
    struct api_keys *k = NULL;

    if (api_keys_parse(text, len, lines, &k) != TGH_OK)
        return;
    /* No key shorter than 16 characters is ever accepted. */
    if (api_keys_role(k, "short", 5) != API_ROLE_NONE)
        abort();
    api_keys_free(k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tgh_malloc(size + 1), *field[FIELDS];
    size_t n = 0;

    memcpy(text, data, size);
    text[size] = '\0';
    check_keys(text, size, true);
    /* Fields: a NUL inside ends the input, as it would a C string from libmicrohttpd. */
    field[n++] = text;
    for (char *p = text; *p != '\0' && n < FIELDS; p++) {
        if (*p == '\n') {
            *p = '\0';
            field[n++] = p + 1;
        }
    }
    while (n < FIELDS)
        field[n++] = "";
    check_route(field[0], field[1]);
    check_filter(*field[2] ? field[2] : NULL, *field[3] ? field[3] : NULL);
    check_id(field[4]);
    check_numbers(field[5], field[6]);
    check_keys(field[7], strlen(field[7]), false);
    tgh_free(text);
    return 0;
}
