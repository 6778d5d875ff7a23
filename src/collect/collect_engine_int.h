/* SPDX-License-Identifier: MIT */
/*
 * collect_engine_int.h - the collection engine's state: the engine, its
 * tracked chats and the functions collect.c (the engine), collect_chat.c (a
 * chat's walk) and collect_live.c (events and live updates) share (private
 * to src/collect/).
 */
#ifndef TGH_COLLECT_COLLECT_ENGINE_INT_H
#define TGH_COLLECT_COLLECT_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "collect/collect.h"
#include "collect/collect_int.h"
#include "collect/collect_resolve.h"
#include "core/err.h"
#include "core/msg.h"
#include "pipeline/pipeline.h"
#include "source/source.h"
#include "store/store.h"

#define PAGE_LIMIT 100 /* TDLib's maximum */

enum step {
    STEP_RESOLVE = 0,
    STEP_OPEN,
    STEP_CATCHUP,
    STEP_FLOOR, /* getChatMessageByDate for --since */
    STEP_BACKFILL,
    STEP_TOPICS, /* getForumTopics: which topics have newer messages */
    STEP_THREADS,
    STEP_VERIFY, /* the gap check (collect_verify.c) */
    STEP_IDLE,   /* done for this pass (daemon waits for the next) */
    STEP_FAILED,
};

struct thread_job {
    int64_t post_id;    /* channel post (server id), or the forum topic id */
    int64_t last_reply; /* newest message of the thread (server id) */
    bool topic;         /* a forum topic (getForumTopicHistory), not comments */
};

struct engine;
struct collect_media;
struct verify;

struct cchat {
    struct engine *e;
    struct td_acct *a;
    int64_t row_id;
    int64_t backfill_req; /* backfill_requested_at of its row, 0 when none */
    char spec[256];
    char account[COLLECT_ACCOUNT_NAME_MAX + 1];
    bool comments, topics;
    int64_t added_at;         /* the chat's tracking began (media history rule) */
    char media_policy[1028];  /* the chat's own media policy spec, "" none (rescans update it) */
    bool media_released;      /* its jobs left downloading by an earlier process were freed */
    struct resolve res_state; /* also holds chat id, type, title, username, linked chat */
    struct source_tdlib_chat map_chat;
    struct source_tdlib_chat map_linked;
    enum step step;
    bool busy; /* a request of this chat is in flight */
    /*
     * Pages handed to the writer and not committed yet. The next page is
     * asked for only when this is 0, so a crash re-fetches at most one page.
     */
    atomic_int uncommitted;
    bool waiting_commit;
    bool pass_done;     /* daemon: a pass ended; recorded once its pages committed */
    bool gone;          /* removed or disabled while the daemon runs */
    bool seen;          /* found again by the latest rescan */
    bool permanent;     /* failed for good (status "error"), not retried until enabled */
    bool catchup_again; /* a catch-up was asked for while a pass ran */
    bool opened;
    struct store_cursor cur; /* as submitted (committed before long) */
    /* the current walk */
    int64_t from;            /* from_message_id (server id), 0: the newest */
    int64_t floor_date;      /* backfill keeps date >= floor_date; 0: none */
    int64_t floor_id;        /* from getChatMessageByDate; 0: none */
    int64_t budget;          /* messages this backfill pass may still take; <0: no limit */
    int64_t reconcile_hours; /* the next catch-up re-reads this many hours too */
    int64_t reconcile_floor; /* the running catch-up re-reads down to this date */
    bool want_catchup, want_backfill;
    bool want_verify;      /* a gap check after the walk */
    struct verify *verify; /* the running gap check, NULL when none */
    bool pending_backfill; /* a backfill pass was asked for while the chat was busy */
    int64_t passes;
    /* comment threads */
    struct thread_job *threads;
    size_t nthreads, capthreads;
    struct thread_job thread;                            /* in progress */
    int64_t topic_off_date, topic_off_msg, topic_off_id; /* getForumTopics paging */
    struct store_cursor thread_cur;
    int64_t thread_max;
    /* results */
    int64_t run_id;
    struct collect_chat_result res;
    struct td_counts counts;
    struct store_stats stats; /* committed, under e->mu */
    bool reported;
};

struct engine {
    const struct tgh_config *cfg;
    const struct collect_opts *o;
    struct td_hub *hub;
    struct store *meta;   /* this thread's connection: tracked chats, runs, dead letters */
    struct store *wstore; /* the writer's */
    struct pipeline_writer *w;
    pthread_mutex_t mu;
    struct cchat **chats;
    size_t nchats;
    struct msg_batch page; /* one page at a time */
    struct msg_batch live;
    double live_since;
    int64_t live_events;
    struct store_stats live_stats; /* what live batches changed, under mu */
    int64_t limit;
    bool stopping;
    tgh_err fatal;
    char fatal_msg[512];
    struct collect_media *media; /* the media downloader, NULL when TGH_MEDIA is off */
    int64_t media_queued_n, media_skipped_n, media_stored_n, media_dedup_n, media_failed_n,
        media_retried_n, media_bytes_n;
};

/* collect.c */
int64_t collect_now(void);
/* Stop the engine; the first error (and its message) is the run's. */
void collect_engine_fatal(struct engine *e, tgh_err rc);

/* collect_chat.c */
/* Decide and send this chat's next request, or finish its pass. */
void collect_chat_next(struct cchat *c);
/* Fail the chat; a permanent error (resolve_error_is_permanent) is also its status. */
void collect_chat_fail(struct cchat *c, int code, const char *fmt, ...) TGH_PRINTF(3, 4);
/* res_state.done: record the resolved chat, begin its run, go on with its walk. */
void collect_on_resolved(void *arg, struct resolve *r);
/* Set up a backfill pass from the oldest cursor, within the run's bounds. */
void collect_begin_backfill(struct cchat *c);
/* Comment threads: remember posts whose replies are newer than what we have. */
void collect_note_thread(struct cchat *c, const json_t *msg);

/* collect_media.c: media downloads through TDLib (docs/internals/media.md) */
/* Start the downloader when TGH_MEDIA is on (and the run wants media); TGH_OK otherwise too. */
TGH_MUSTCHECK tgh_err collect_media_start(struct engine *e);
/*
 * Scan, claim, start downloads, take stored ones back; cheap when nothing is
 * due. chats_idle: every chat's walk is done and committed (collect --once),
 * so scans and claims run on every tick until nothing is left.
 */
void collect_media_tick(struct engine *e, double now, bool chats_idle);
/* Since the chats went idle: nothing in flight, nothing left to scan or claim. */
bool collect_media_idle(const struct engine *e);
/* updateFile: progress of a download. */
void collect_media_on_file(struct engine *e, const json_t *file);
/* Give jobs in flight back (queued), stop the storing thread. */
void collect_media_stop(struct engine *e);

/* collect_chat.c: hand the page (and the cursor, when not NULL) to the writer. */
void collect_chat_submit(struct engine *e, struct cchat *c, struct msg_batch *b,
                         const struct store_cursor *cur);

/* collect_verify.c: the gap check (docs/internals/gaps.md) */
/* Take the chat's next gap-check step; STEP_IDLE when the check is done. */
void collect_verify_next(struct cchat *c);
void collect_verify_free(struct cchat *c);

/* collect_live.c */
/* Map one message into b; false when it became a dead letter instead. */
bool collect_map_into(struct engine *e, struct cchat *c, const struct source_tdlib_chat *chat,
                      const json_t *msg, struct msg_batch *b);
/* Hand the live batch (when not empty) to the writer. */
void collect_live_flush(struct engine *e);
/* hub->on_update (daemon): new, edited and deleted messages of tracked chats. */
void collect_on_update(void *arg, struct td_acct *a, json_t *u);

#endif
