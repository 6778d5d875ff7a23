/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - the only allocator. Heap exhaustion aborts: the program is
 * at-least-once everywhere and resumes from durable cursors after a restart,
 * so there is no half-working state to preserve. Sizes driven by input are
 * capped before they reach these functions.
 */
#ifndef TGH_CORE_ALLOC_H
#define TGH_CORE_ALLOC_H

#include <stddef.h>

void *tgh_malloc(size_t size);
void *tgh_calloc(size_t n, size_t size);
void *tgh_realloc(void *p, size_t size);
char *tgh_strdup(const char *s);
char *tgh_strndup(const char *s, size_t n);
void tgh_free(void *p); /* NULL is fine */

#endif
