/* SPDX-License-Identifier: MIT */
/*
 * api_pool.c - the pool of store connections handlers borrow: at most
 * API_POOL_MAX open, one per handler while in use, each with a Redis cache
 * when TGH_CACHE is set. A handler that finds them all busy waits a while,
 * then answers 503.
 */
#include "api/api_req_int.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "api/api_int.h"
#include "cache/cache.h"
#include "core/alloc.h"
#include "store/store.h"

bool
api_conn_get(struct api_req *r, struct api_conn **out)
{
    struct api_server *s = r->srv;
    struct api_conn *c = NULL;
    struct timespec dl;
    tgh_err rc;

    (void)clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += API_POOL_WAIT_MS / 1000;
    (void)pthread_mutex_lock(&s->pool_mu);
    while (s->idle == NULL && s->n_open >= API_POOL_MAX)
        if (pthread_cond_timedwait(&s->pool_cv, &s->pool_mu, &dl) == ETIMEDOUT)
            break;
    if (s->idle != NULL) {
        c = s->idle;
        s->idle = c->next;
    } else if (s->n_open < API_POOL_MAX) {
        s->n_open++; /* reserved; opened below, outside the lock */
    } else {
        (void)pthread_mutex_unlock(&s->pool_mu);
        api_reply_error(r, 503, "unavailable", "all %d store connections are busy", API_POOL_MAX);
        return false;
    }
    (void)pthread_mutex_unlock(&s->pool_mu);
    if (c == NULL) {
        c = tgh_calloc(1, sizeof(*c));
        rc = store_open_existing(s->store_url, &c->st);
        if (rc != TGH_OK) {
            api_conn_put(s, c, true);
            api_reply_err(r, rc == TGH_ENOTFOUND ? TGH_EUNAVAIL : rc, "store");
            return false;
        }
        if (cache_url_is_redis(s->cfg->cache_url) &&
            cache_open(s->cfg->cache_url, &c->cache) != TGH_OK)
            c->cache = NULL; /* a bad URL was refused at start; polling then asks the store */
    }
    c->next = NULL;
    *out = c;
    return true;
}

void
api_conn_put(struct api_server *s, struct api_conn *c, bool broken)
{
    if (c == NULL)
        return;
    (void)pthread_mutex_lock(&s->pool_mu);
    if (broken || atomic_load(&s->stopping)) {
        s->n_open--;
        (void)pthread_mutex_unlock(&s->pool_mu);
        store_close(c->st);
        cache_close(c->cache);
        tgh_free(c);
        (void)pthread_mutex_lock(&s->pool_mu);
    } else {
        c->next = s->idle;
        s->idle = c;
    }
    (void)pthread_cond_signal(&s->pool_cv);
    (void)pthread_mutex_unlock(&s->pool_mu);
}
