/* SPDX-License-Identifier: MIT */
/*
 * arena.c - chunked bump allocator. Requests larger than a chunk get a chunk
 * of their own, so one oversized field never forces every chunk to grow.
 */
#include "core/arena.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

struct tgh_arena_chunk {
    struct tgh_arena_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void
tgh_arena_init(struct tgh_arena *a, size_t chunk_bytes)
{
    a->head = NULL;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : 64 * 1024;
    a->used_bytes = 0;
}

void
tgh_arena_fini(struct tgh_arena *a)
{
    struct tgh_arena_chunk *c, *next;

    if (a == NULL)
        return;
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        tgh_free(c);
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void
tgh_arena_reset(struct tgh_arena *a)
{
    struct tgh_arena_chunk *keep = NULL, *c, *next;

    /* Keep one standard-size chunk: the steady state allocates nothing. */
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        if (keep == NULL && c->cap == a->chunk_bytes) {
            keep = c;
            continue;
        }
        tgh_free(c);
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
    a->used_bytes = 0;
}

void *
tgh_arena_alloc(struct tgh_arena *a, size_t size)
{
    struct tgh_arena_chunk *c = a->head;
    size_t need = (size + 15) & ~(size_t)15;
    void *p;

    if (need < size)
        need = SIZE_MAX & ~(size_t)15;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > a->chunk_bytes ? need : a->chunk_bytes;

        c = tgh_malloc(sizeof(*c) + cap);
        c->cap = cap;
        c->used = 0;
        if (cap > a->chunk_bytes && a->head != NULL) {
            /* An oversized chunk goes behind the current one, which still has room. */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    p = c->data + c->used;
    c->used += need;
    a->used_bytes += need;
    memset(p, 0, size);
    return p;
}

char *
tgh_arena_strndup(struct tgh_arena *a, const char *s, size_t n)
{
    char *p = tgh_arena_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
tgh_arena_strdup(struct tgh_arena *a, const char *s)
{
    return tgh_arena_strndup(a, s, strlen(s));
}
