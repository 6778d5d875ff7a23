/* SPDX-License-Identifier: MIT */
/*
 * arena.h - bump allocation for per-batch work. Decoders allocate the strings
 * and arrays of a message event here and the owner resets the arena after
 * the batch is committed: no per-field frees.
 */
#ifndef TGH_CORE_ARENA_H
#define TGH_CORE_ARENA_H

#include <stddef.h>

struct tgh_arena_chunk;

struct tgh_arena {
    struct tgh_arena_chunk *head; /* current chunk; older ones follow ->next */
    size_t chunk_bytes;           /* default size of a new chunk */
    size_t used_bytes;            /* handed out since the last reset */
};

void tgh_arena_init(struct tgh_arena *a, size_t chunk_bytes);
void tgh_arena_fini(struct tgh_arena *a); /* frees everything; NULL is fine */

/* Forget every allocation but keep the first chunk for reuse. */
void tgh_arena_reset(struct tgh_arena *a);

/* Zeroed, 16-byte aligned memory that lives until the next reset. */
void *tgh_arena_alloc(struct tgh_arena *a, size_t size);
char *tgh_arena_strdup(struct tgh_arena *a, const char *s);
char *tgh_arena_strndup(struct tgh_arena *a, const char *s, size_t n);

#endif
