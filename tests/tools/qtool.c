/* SPDX-License-Identifier: MIT */
/*
 * qtool.c - the broker side of the scale-out tests, through the project's
 * own queue module:
 *
 *   qtool publish URL [PAGE] stdin lines, raw, PAGE lines (default 1) per
 *                            confirmed message (a page, as collectors send)
 *   qtool depth URL QUEUE    messages ready in QUEUE
 *   qtool purge URL QUEUE    empty QUEUE
 *   qtool peek URL QUEUE N   up to N messages of QUEUE as JSON lines
 *                            {"error": header, "body": text}, then requeued
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "queue/queue.h"

static int
die(const char *what)
{
    (void)fprintf(stderr, "qtool %s: %s\n", what, tgh_errmsg());
    return 1;
}

static int
publish(const char *url, long per_page)
{
    struct queue_pub *p = NULL;
    struct queue_page pg;
    char *line = NULL, id[32];
    size_t cap = 0;
    ssize_t len;
    long n = 0;

    queue_page_init(&pg);
    /* Like any publisher, wait for a broker that is down (up to a minute). */
    for (int tries = 0; queue_pub_open(url, &p) != TGH_OK; tries++) {
        if (tries == 120)
            return die("publish");
        usleep(500 * 1000);
    }
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        (void)snprintf(id, sizeof(id), "line-%ld", ++n);
        queue_page_add(&pg, line, (size_t)len, id);
        if ((long)pg.n >= per_page && queue_page_publish(p, &pg) != TGH_OK)
            return die("publish");
        if (n % 1000 == 0 && queue_pub_flush(p, 60000) != TGH_OK)
            return die("publish");
    }
    if (queue_page_publish(p, &pg) != TGH_OK)
        return die("publish");
    queue_page_fini(&pg);
    tgh_free(line);
    if (queue_pub_flush(p, 60000) != TGH_OK)
        return die("publish");
    queue_pub_close(p);
    (void)printf("%ld\n", n);
    return 0;
}

static int
peek(const char *url, const char *queue, long max)
{
    struct queue_con *c = NULL;
    struct queue_delivery d;
    uint64_t last = 0;
    long n = 0;

    if (queue_con_open(url, queue, 1000, &c) != TGH_OK)
        return die("peek");
    while (n < max && queue_con_next(c, 1000, &d) == TGH_OK) {
        json_t *o = json_object();

        (void)json_object_set_new(o, "error", d.error ? json_string(d.error) : json_null());
        (void)json_object_set_new(o, "body", json_stringn(d.body, d.len));
        (void)json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        (void)fputc('\n', stdout);
        json_decref(o);
        last = d.tag;
        n++;
    }
    if (n > 0 && queue_nack(c, last, true, true) != TGH_OK)
        return die("peek");
    queue_con_close(c);
    return 0;
}

int
main(int argc, char **argv)
{
    uint64_t v = 0;

    if (argc >= 3 && strcmp(argv[1], "publish") == 0)
        return publish(argv[2], argc >= 4 ? strtol(argv[3], NULL, 10) : 1);
    if (argc >= 4 && strcmp(argv[1], "depth") == 0) {
        if (queue_depth(argv[2], argv[3], &v) != TGH_OK)
            return die("depth");
        (void)printf("%llu\n", (unsigned long long)v);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "purge") == 0) {
        if (queue_purge(argv[2], argv[3], &v) != TGH_OK)
            return die("purge");
        (void)printf("%llu\n", (unsigned long long)v);
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "peek") == 0)
        return peek(argv[2], argv[3], strtol(argv[4], NULL, 10));
    (void)fprintf(stderr, "usage: qtool publish URL [PAGE] | depth URL QUEUE | purge URL QUEUE | "
                          "peek URL QUEUE N\n");
    return 2;
}
