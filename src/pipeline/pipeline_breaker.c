/* SPDX-License-Identifier: MIT */
/*
 * pipeline_breaker.c - the circuit breaker and the backoff every retry loop
 * of the pipeline uses.
 */
#include "pipeline/pipeline.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

void
pipeline_breaker_init(struct pipeline_breaker *b, unsigned threshold, int64_t window_ms,
                      int64_t open_ms, int64_t open_max_ms)
{
    memset(b, 0, sizeof(*b));
    if (threshold < 1)
        threshold = 1;
    if (threshold > PIPELINE_BREAKER_MAX_THRESHOLD)
        threshold = PIPELINE_BREAKER_MAX_THRESHOLD;
    b->threshold = threshold;
    b->window_ms = window_ms;
    b->open_ms = open_ms;
    b->open_max_ms = open_max_ms < open_ms ? open_ms : open_max_ms;
    b->state = PIPELINE_BREAKER_CLOSED;
}

enum pipeline_breaker_state
pipeline_breaker_state(const struct pipeline_breaker *b, int64_t now_ms)
{
    if (b->state == PIPELINE_BREAKER_OPEN && now_ms - b->opened_at >= b->open_for)
        return PIPELINE_BREAKER_HALF_OPEN;
    return b->state;
}

const char *
pipeline_breaker_state_name(enum pipeline_breaker_state s)
{
    switch (s) {
    case PIPELINE_BREAKER_CLOSED:
        return "closed";
    case PIPELINE_BREAKER_OPEN:
        return "open";
    case PIPELINE_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "?";
}

static void
trip(struct pipeline_breaker *b, int64_t now_ms, int64_t open_for)
{
    b->state = PIPELINE_BREAKER_OPEN;
    b->opened_at = now_ms;
    b->open_for = open_for > b->open_max_ms ? b->open_max_ms : open_for;
    b->probing = false;
    b->nfails = 0;
    b->next = 0;
    b->opens++;
}

bool
pipeline_breaker_allow(struct pipeline_breaker *b, int64_t now_ms)
{
    switch (pipeline_breaker_state(b, now_ms)) {
    case PIPELINE_BREAKER_CLOSED:
        return true;
    case PIPELINE_BREAKER_OPEN:
        return false;
    case PIPELINE_BREAKER_HALF_OPEN:
        if (b->probing)
            return false;
        b->state = PIPELINE_BREAKER_HALF_OPEN;
        b->probing = true;
        return true;
    }
    return false;
}

void
pipeline_breaker_success(struct pipeline_breaker *b, int64_t now_ms)
{
    (void)now_ms;
    b->state = PIPELINE_BREAKER_CLOSED;
    b->probing = false;
    b->nfails = 0;
    b->next = 0;
}

void
pipeline_breaker_failure(struct pipeline_breaker *b, int64_t now_ms)
{
    unsigned recent = 0;

    if (b->state == PIPELINE_BREAKER_HALF_OPEN || b->state == PIPELINE_BREAKER_OPEN) {
        /* The probe failed: stay away twice as long. */
        trip(b, now_ms, b->open_for * 2);
        return;
    }
    b->fails[b->next] = now_ms;
    b->next = (b->next + 1) % b->threshold;
    if (b->nfails < b->threshold)
        b->nfails++;
    for (unsigned i = 0; i < b->nfails; i++)
        if (now_ms - b->fails[i] <= b->window_ms)
            recent++;
    if (recent >= b->threshold)
        trip(b, now_ms, b->open_ms);
}

int64_t
pipeline_breaker_wait_ms(const struct pipeline_breaker *b, int64_t now_ms)
{
    switch (pipeline_breaker_state(b, now_ms)) {
    case PIPELINE_BREAKER_CLOSED:
        return 0;
    case PIPELINE_BREAKER_OPEN:
        return b->opened_at + b->open_for - now_ms;
    case PIPELINE_BREAKER_HALF_OPEN:
        return b->probing ? b->open_ms : 0;
    }
    return 0;
}

int64_t
pipeline_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms)
{
    int64_t ceiling = base_ms;
    uint64_t r = 0;

    for (unsigned i = 0; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    if (ceiling <= 0)
        return 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint64_t)time(NULL) * 2654435761u;
    return (int64_t)(r % (uint64_t)(ceiling + 1));
}

int64_t
pipeline_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
