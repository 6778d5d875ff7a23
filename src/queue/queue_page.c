/* SPDX-License-Identifier: MIT */
/*
 * queue_page.c - pages: several events in one broker message, one per line.
 */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "queue/queue.h"

void
queue_page_init(struct queue_page *pg)
{
    memset(pg, 0, sizeof(*pg));
}

void
queue_page_fini(struct queue_page *pg)
{
    tgh_free(pg->buf);
    memset(pg, 0, sizeof(*pg));
}

void
queue_page_add(struct queue_page *pg, const char *event, size_t len, const char *key)
{
    if (pg->len + len + 1 > pg->cap) {
        pg->cap = pg->len + len + 1 > 2 * pg->cap ? pg->len + len + 1 : 2 * pg->cap;
        pg->buf = tgh_realloc(pg->buf, pg->cap);
    }
    memcpy(pg->buf + pg->len, event, len);
    pg->len += len;
    pg->buf[pg->len++] = '\n';
    if (pg->n++ == 0)
        (void)snprintf(pg->first, sizeof(pg->first), "%s", key != NULL ? key : "");
}

bool
queue_page_full(const struct queue_page *pg)
{
    return pg->n >= QUEUE_PAGE_EVENTS || pg->len >= QUEUE_PAGE_BYTES;
}

tgh_err
queue_page_publish(struct queue_pub *p, struct queue_page *pg)
{
    char id[128];
    tgh_err rc;

    if (pg->n == 0)
        return TGH_OK;
    if (pg->n == 1)
        (void)snprintf(id, sizeof(id), "%s", pg->first);
    else
        (void)snprintf(id, sizeof(id), "%s+%zu", pg->first, pg->n - 1);
    rc = queue_publish(p, pg->buf, pg->len, pg->first[0] != '\0' ? id : NULL);
    /* Published or not, the page is emptied: a caller that failed publishes its events again. */
    pg->len = 0;
    pg->n = 0;
    return rc;
}
