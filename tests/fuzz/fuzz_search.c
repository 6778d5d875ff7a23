/* SPDX-License-Identifier: MIT */
/*
 * fuzz_search.c - search queries from strangers (the API's q, the CLI's
 * QUERY) against a SQLite store holding a few messages. Whatever the bytes:
 * no crash; a query without search syntax (no '"', '(', ')', a word ending
 * in '*' or starting with '-', AND/OR/NOT/NEAR) never fails as syntax; a
 * failing one says it was read as search syntax; the store answers the next
 * query as before.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/msg.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *st;
static char path[96];

static void
remove_db(void)
{
    store_close(st);
    (void)unlink(path);
}

static int
count_row(void *arg, const struct store_message_row *r)
{
    (void)r;
    (*(int *)arg)++;
    return 0;
}

static void
open_once(void)
{
    static const char *const texts[] = { "Learning C# today", "send an e-mail", "3.5% growth",
                                         "Привет, мир", "fog warning for the pier" };
    char url[128];
    struct store_stats stats = { 0 };

    if (st != NULL)
        return;
    (void)snprintf(path, sizeof(path), "/tmp/tgh-fuzz-search-%d.db", (int)getpid());
    (void)snprintf(url, sizeof(url), "sqlite://%s", path);
    (void)unlink(path);
    if (store_open(url, &st) != TGH_OK)
        abort();
    (void)atexit(remove_db);
    for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
        struct msg_event ev;

        msg_event_init(&ev);
        ev.source = MSG_SOURCE_TDLIB;
        ev.chat_id = -1001;
        ev.chat_type = MSG_CHAT_CHANNEL;
        ev.message_id = (int64_t)i + 1;
        ev.date = 1700000000 + (int64_t)i;
        ev.text = texts[i];
        if (codec_event_finalize(&ev) != TGH_OK || store_batch_commit(st, &ev, 1, &stats) != TGH_OK)
            abort();
    }
}

/* Does q have a mark of search syntax (the rule of store.c)? */
static int
has_syntax(const char *q)
{
    static const char *const ops[] = { "AND", "OR", "NOT", "NEAR" };
    const char *p = q;

    if (strpbrk(q, "\"()") != NULL)
        return 1;
    while (*p != '\0') {
        size_t n;

        p += strspn(p, " \t\r\n");
        n = strcspn(p, " \t\r\n");
        if ((n > 0 && p[n - 1] == '*') || (n > 1 && p[0] == '-'))
            return 1;
        for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++)
            if (n == strlen(ops[i]) && strncmp(p, ops[i], n) == 0)
                return 1;
        p += n;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct store_query q = { .chat_id = MSG_UNSET, .since = MSG_UNSET, .until = MSG_UNSET };
    char *text;
    int n = 0;
    tgh_err rc;

    if (size > 512)
        return 0; /* the API's limit */
    open_once();
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    q.match = text;
    rc = store_messages_each(st, &q, count_row, &n);
    if (rc != TGH_OK && rc != TGH_EINVAL)
        abort(); /* a search fails for its query, never otherwise */
    if (rc == TGH_EINVAL && text[strspn(text, " \t\r\n")] != '\0' && strlen(text) == size &&
        !has_syntax(text) && strstr(tgh_errmsg(), "invalid search query") != NULL)
        abort(); /* plain words never fail as syntax */
    q.match = "fog";
    n = 0;
    if (store_messages_each(st, &q, count_row, &n) != TGH_OK || n != 1)
        abort();
    free(text);
    return 0;
}
