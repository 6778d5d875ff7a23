/* SPDX-License-Identifier: MIT */
/*
 * pipeline.h - moving events from sources into the store.
 *
 * The writer owns a store on a thread of its own: a source hands it full
 * batches and goes on reading while the previous batches are committed, one
 * transaction each. Nothing is reported committed (drain) before
 * store_batch_commit() returned TGH_OK for it. A failed commit stops the
 * writer: every later submit and drain returns that error, and batches not
 * yet committed are dropped, never half-written.
 *
 * The import job wires the Desktop export source to a writer: events go
 * through the writer, dead letters, chats and collection runs through a
 * second store connection, and each chat's run is finished only after its
 * batches were drained.
 */
#ifndef TGH_PIPELINE_PIPELINE_H
#define TGH_PIPELINE_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/feed.h"
#include "core/msg.h"
#include "store/store.h"

struct pipeline_writer; /* opaque */

/*
 * Start a writer thread that commits into st (which the caller must not use
 * until pipeline_writer_stop). Up to depth batches of up to batch_cap events
 * wait for it; submit blocks beyond that (backpressure).
 */
TGH_MUSTCHECK tgh_err pipeline_writer_start(struct store *st, size_t batch_cap, size_t depth,
                                            struct pipeline_writer **out);

/*
 * The same, but a "commit" publishes the batch to the broker at queue_url
 * (amqp://) and waits for every publisher confirm; cursors and the commit
 * callback follow as for a store (st then only holds cursors). The broker
 * being down is waited for, with backoff; the counts are in `published`.
 */
TGH_MUSTCHECK tgh_err pipeline_writer_start_queue(struct store *st, const char *queue_url,
                                                  size_t batch_cap, size_t depth,
                                                  struct pipeline_writer **out);

/*
 * Hand the events of b to the writer. The events are encoded here, on the
 * caller's thread, so the writer only writes. On return b is empty and
 * reusable (its contents were swapped with a spare batch). b->cap must not
 * exceed the writer's batch_cap.
 */
TGH_MUSTCHECK tgh_err pipeline_writer_submit(struct pipeline_writer *w, struct msg_batch *b);

/*
 * What rides with a batch (pipeline_writer_submit_note): a tag handed back
 * to the commit callback, and a collection cursor the writer stores right
 * after the batch committed, so a cursor never gets ahead of the messages it
 * covers. A note with a cursor or a tag may come with an empty batch.
 */
struct pipeline_commit_note {
    void *tag;
    bool has_cursor;
    struct store_cursor cursor;
};

TGH_MUSTCHECK tgh_err pipeline_writer_submit_note(struct pipeline_writer *w, struct msg_batch *b,
                                                  const struct pipeline_commit_note *note);

/*
 * Called on the writer thread after each batch (and its cursor) committed,
 * with the batch's note tag and its counts. Set before the first submit.
 */
typedef void (*pipeline_commit_fn)(void *arg, void *tag, const struct store_stats *s);
void pipeline_writer_on_commit(struct pipeline_writer *w, pipeline_commit_fn fn, void *arg);

/*
 * Also append what each committed batch changed (new, edited, deleted
 * messages; nothing for a redelivery) to feed, after the commit: the live
 * stream of `run`. Set before the first submit; a publishing writer ignores
 * it (workers feed the stream of a scale-out deployment).
 */
void pipeline_writer_set_feed(struct pipeline_writer *w, struct tgh_feed *feed);

/*
 * The feed item of one committed change: {"kind", "chat_id", "message_id",
 * "date", "deleted_at" (deletions), "event"}, where event is the event's
 * canonical JSON, or null (and "truncated": true) when it is larger than
 * PIPELINE_FEED_EVENT_MAX; clients then read it from the API. Caller frees.
 */
#define PIPELINE_FEED_EVENT_MAX (64 * 1024)
char *pipeline_feed_json(const struct msg_event *ev, enum store_change change, size_t *len);

/* Append every change of a committed batch to feed (changes as store_batch_commit_changes). */
void pipeline_feed_changes(struct tgh_feed *feed, const struct msg_event *ev,
                           const enum store_change *changes, size_t n);

/*
 * Process dead letter d again: decode its payload with the decoder of its
 * source ("queue", "event", "replay": schema-v1 event JSON; "tdlib": a TDLib
 * message object) and commit the event into st (appending the change to
 * feed when not NULL), or publish it to the broker when queue_url is
 * amqp://. A payload that still does not decode is that decoder's error
 * (TGH_EINVAL, TGH_EPROTO, TGH_ETOOBIG); a source whose payloads cannot be
 * processed alone (an export's message needs its file) is TGH_ECONFLICT.
 * The dead letter itself is not changed here (store_dead_letter_retried).
 */
enum pipeline_retry_result { PIPELINE_RETRY_COMMITTED, PIPELINE_RETRY_PUBLISHED };
TGH_MUSTCHECK tgh_err pipeline_dead_letter_retry(struct store *st, const char *queue_url,
                                                 struct tgh_feed *feed,
                                                 const struct store_dead_letter_row *d,
                                                 enum pipeline_retry_result *res);

/*
 * Wait until every submitted batch is committed; add the store's counts since
 * the previous drain to *stats (also when a later commit failed: they were
 * committed). Returns the writer's error if a commit failed.
 */
TGH_MUSTCHECK tgh_err pipeline_writer_drain(struct pipeline_writer *w, struct store_stats *stats);

/* The writer's sticky error without waiting (TGH_OK while it is healthy). */
TGH_MUSTCHECK tgh_err pipeline_writer_error(struct pipeline_writer *w);

/* Drain, stop and join the thread; the store is the caller's again. NULL is fine. */
TGH_MUSTCHECK tgh_err pipeline_writer_stop(struct pipeline_writer *w, struct store_stats *stats);

/*
 * The media archive's store side (pipeline_media.c, docs/internals/media.md).
 *
 * The scanner turns messages that carry media into jobs (store_media_job_add)
 * as the policy says, by message id from the chat's scan cursor. Storing a
 * job takes a local file (downloaded by the collector, or beside an export):
 * its SHA-256, the object under objects/ (only when the content index does
 * not have it yet), the layout name (a hard link in a folder), the
 * message.json sidecar of the message, then the job ends STORED. A failure
 * re-queues the job with backoff, or fails it after max_attempts claims;
 * nothing is marked stored that is not whole in the media store.
 */
struct media_store;
struct media_policy;

/* A job's content type: the source's, else the usual one of its kind (a thumbnail: JPEG). */
const char *pipeline_media_content_type(const struct store_media_job *j);

/*
 * Job j as a new JSON object (a json_t *, declared here as void * to keep
 * jansson out of this header): what `media jobs --json` prints and the API
 * serves, content_type included.
 */
void *pipeline_media_job_json(const struct store_media_job *j);

struct pipeline_media_scan {
    int64_t chat_id;
    int64_t added_at; /* the chat's tracking began (history rule); 0: not tracked */
    const struct media_policy *policy;
    const char *export_dir; /* an import: files are relative to it (origin "export"); else NULL */
    bool from_start;        /* read from the first message, not the scan cursor (imports) */
    size_t max;             /* messages read at most this call; 0: no limit */
};

struct pipeline_media_scan_result {
    size_t messages; /* messages with media read */
    size_t queued;   /* jobs added to be stored or downloaded */
    size_t skipped;  /* jobs added as skipped by the policy */
    size_t refused;  /* export files refused (outside the export folder, not a regular file) */
    bool done;       /* no message left after the cursor */
};

TGH_MUSTCHECK tgh_err pipeline_media_scan(struct store *st, const struct pipeline_media_scan *q,
                                          struct pipeline_media_scan_result *res);

struct pipeline_media_stored {
    bool dedup;         /* the content was stored before (another message, another chat) */
    int64_t bytes;      /* size of the file */
    int64_t bytes_sent; /* bytes sent to the media store this time */
    bool truncated;     /* the file is shorter than the job's size: fetch it again */
    char sha256[65];
    char key[1024];   /* the object key */
    char alias[1024]; /* the layout name ("" where the store has no aliases) */
};

/*
 * Store the bytes of claimed job j from the local file path (see above) and
 * end the job. TGH_OK: stored. Otherwise the job was ended as
 * pipeline_media_failed() says, and the error is returned.
 */
struct pipeline_media_retry {
    int max_attempts; /* claims before a job fails (TGH_MEDIA_ATTEMPTS) */
    int64_t base_s;   /* the first retry waits about this long, doubling up to cap_s */
    int64_t cap_s;
};

TGH_MUSTCHECK tgh_err pipeline_media_store(struct store *st, struct media_store *ms,
                                           const struct store_media_job *j, const char *path,
                                           const struct pipeline_media_retry *retry,
                                           struct pipeline_media_stored *out);

/*
 * End claimed job j after a failure rc (detail msg): before its last
 * attempt it is queued again after a backoff (base_s doubling per attempt,
 * up to cap_s, with jitter); after it, or for an error no retry can change
 * (TGH_ENOTFOUND: the message or file is gone; TGH_ETOOBIG), it fails.
 * Returns the store's error, if the end could not be written.
 */
TGH_MUSTCHECK tgh_err pipeline_media_failed(struct store *st, const struct store_media_job *j,
                                            tgh_err rc, const char *msg,
                                            const struct pipeline_media_retry *retry, int64_t now);

/* Media metrics: jobs ended by state, bytes stored, content already stored. */
void pipeline_metrics_media(enum store_job_state state, int64_t bytes, bool dedup);

/* Import of Telegram Desktop exports, or of schema-v1 event lines. */
enum pipeline_from {
    PIPELINE_FROM_EXPORT = 0, /* Telegram Desktop result.json */
    PIPELINE_FROM_EVENTS,     /* JSON lines of events, as `export --format jsonl` writes */
};

struct pipeline_import_opts {
    enum pipeline_from from;
    const char *tz;    /* zone of export dates lacking date_unixtime; NULL = UTC */
    size_t batch_size; /* events per transaction */
    /* called about every 4096 messages; may be NULL */
    void (*progress)(void *arg, const char *file, uint64_t bytes, uint64_t messages);
    void *progress_arg;
    /*
     * Media beside an export (photos/, files/, ...) go into this media store
     * as the policy says (NULL, or media_url_is_off(): not stored); files the
     * export left out become jobs a TDLib download may fill later.
     */
    const char *media_url;
    const struct media_policy *media_policy;
    struct pipeline_media_retry media_retry;
};

struct pipeline_import_totals {
    uint64_t files;        /* imported without a file error */
    uint64_t failed_files; /* truncated, not JSON, unreadable */
    uint64_t chats;
    uint64_t failed_chats; /* a chat the file could not deliver (e.g. messages before id) */
    uint64_t messages;     /* message objects read */
    uint64_t dead_letters;
    uint64_t bytes;
    struct store_stats stats;
    /* media: stored (dedup: of those, content stored before), refused (outside the
       export folder), missing (queued for a TDLib download: not in the export, or refused), failed
     */
    uint64_t media_stored, media_dedup, media_refused, media_missing, media_failed, media_skipped;
    int64_t media_bytes;
};

/*
 * Import files and directories (their *.json, or *.jsonl for events, sorted)
 * into the store at url. Every chat of every export file is a collection
 * run; an event file is one run of kind "replay". A file that fails is
 * reported through on_error (its message names the file) and the next file
 * goes on; the first error is returned. Totals are added to *tot.
 */
TGH_MUSTCHECK tgh_err pipeline_import_paths(const char *store_url, char *const *paths,
                                            size_t npaths, const struct pipeline_import_opts *o,
                                            void (*on_error)(const char *msg),
                                            struct pipeline_import_totals *tot);

/*
 * The scale-out worker (`tgharvest work`): consume tg.messages.v2, skip what
 * Redis has seen, commit into the store, dead-letter poison, ack after
 * commit. The algorithm and its guarantees are in pipeline_work.c and
 * docs/internals/pipeline.md.
 */
struct pipeline_work_opts {
    const char *queue_url; /* amqp://... */
    const char *store_url;
    const char *cache_url; /* redis://..., or NULL / "none" */
    size_t batch_size;     /* events per transaction */
    unsigned prefetch;     /* unacked deliveries (pages) the broker may send */
    int64_t batch_wait_ms; /* a partial batch is committed after this long */
    int64_t idle_exit_ms;  /* return after this long with nothing to do; 0: never */
    size_t stream_max;     /* with a cache: committed changes go to the Redis stream of the API's
                              live stream, capped at this many entries; 0: not */
    volatile sig_atomic_t *stop; /* set (by a signal handler) to finish the batch and return */
    /* after each acked batch: deliveries in it and milliseconds from its first decode */
    void (*on_batch)(void *arg, size_t deliveries, int64_t ms);
    void *on_batch_arg;
};

struct pipeline_work_totals {
    uint64_t received;     /* deliveries taken */
    uint64_t events;       /* events committed (after dedup) */
    uint64_t duplicates;   /* skipped: Redis had that message in that state */
    uint64_t dead_letters; /* poison: in ingestion_errors and in the DLQ */
    uint64_t batches;      /* batches committed and acked */
    uint64_t retries;      /* failed commits retried */
    uint64_t breaker_opens;
    uint64_t reconnects; /* broker connections lost or refused */
    uint64_t cache_failures;
    /* milliseconds spent, over the acked batches */
    int64_t ms_decode; /* decode, re-encode, state digests */
    int64_t ms_cache;  /* Redis lookup and marks */
    int64_t ms_commit; /* the store transaction, dead letters included */
    struct store_stats stats;
};

TGH_MUSTCHECK tgh_err pipeline_work_run(const struct pipeline_work_opts *o,
                                        struct pipeline_work_totals *t);

/* One line of a page (a delivery's body): the bytes, and its 1-based number. */
struct pipeline_line {
    const char *p;
    size_t len;
    unsigned line; /* 0 when the page has a single non-blank line */
};

/*
 * Split a page into its non-blank lines (trailing CR, spaces and tabs cut),
 * storing at most max of them in out (which may be NULL when max is 0).
 * Returns how many there are.
 */
size_t pipeline_page_lines(const char *body, size_t len, struct pipeline_line *out, size_t max);

/*
 * Circuit breaker around a dependency (the store, for the worker). Closed:
 * calls go through; `threshold` failures within `window_ms` open it. Open:
 * nothing goes through for the open period, which starts at open_ms and
 * doubles on every failed probe up to open_max_ms. Then half-open: exactly
 * one probe call is allowed; its success closes the breaker, its failure
 * opens it again. Times are the caller's monotonic milliseconds, so tests
 * drive it with a fake clock.
 */
enum pipeline_breaker_state {
    PIPELINE_BREAKER_CLOSED = 0,
    PIPELINE_BREAKER_OPEN,
    PIPELINE_BREAKER_HALF_OPEN,
};

#define PIPELINE_BREAKER_MAX_THRESHOLD 64

struct pipeline_breaker {
    unsigned threshold;
    int64_t window_ms, open_ms, open_max_ms;
    enum pipeline_breaker_state state;
    int64_t fails[PIPELINE_BREAKER_MAX_THRESHOLD]; /* ring of recent failure times */
    unsigned nfails, next;
    int64_t opened_at, open_for;
    bool probing;   /* half-open: the probe is out */
    uint64_t opens; /* times it opened, for metrics */
};

void pipeline_breaker_init(struct pipeline_breaker *b, unsigned threshold, int64_t window_ms,
                           int64_t open_ms, int64_t open_max_ms);
/* May a call go through now? In half-open, true once (the probe). */
bool pipeline_breaker_allow(struct pipeline_breaker *b, int64_t now_ms);
void pipeline_breaker_success(struct pipeline_breaker *b, int64_t now_ms);
void pipeline_breaker_failure(struct pipeline_breaker *b, int64_t now_ms);
/* Milliseconds until allow() can say yes again (0 when it would now). */
int64_t pipeline_breaker_wait_ms(const struct pipeline_breaker *b, int64_t now_ms);
enum pipeline_breaker_state pipeline_breaker_state(const struct pipeline_breaker *b,
                                                   int64_t now_ms);
const char *pipeline_breaker_state_name(enum pipeline_breaker_state s);

/*
 * Exponential backoff with full jitter: a uniform delay in
 * [0, min(cap_ms, base_ms * 2^attempt)] (attempt counts from 0).
 */
int64_t pipeline_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms);

/* Monotonic milliseconds. */
int64_t pipeline_now_ms(void);

/*
 * Metrics of the pipeline (pipeline_metrics.c; docs/internals/metrics.md).
 * pipeline_metrics_commit counts a committed batch: changes[i] per event (or
 * NULL: all unchanged) and how long the commit took.
 */
void pipeline_metrics_commit(const struct msg_event *ev, const enum store_change *changes, size_t n,
                             double commit_s);
void pipeline_metrics_skipped(size_t n); /* duplicates the Redis check skipped */
void pipeline_metrics_dead_letter(const char *source);
void pipeline_metrics_retry(const char *sub);
void pipeline_metrics_breaker(enum pipeline_breaker_state st);

#endif
