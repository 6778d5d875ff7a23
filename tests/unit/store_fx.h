/* SPDX-License-Identifier: MIT */
/*
 * store_fx.h - the fixture of the store tests, for every backend: with
 * TGH_TEST_STORE_URL set (a PostgreSQL server) each fixture gets a database
 * of its own, created from a maintenance connection to that URL and dropped
 * at teardown, so test binaries can run in parallel; otherwise a SQLite file
 * in a fresh temporary directory. A second, raw connection shows what the
 * store API does not (updated_at, counters); SQL that differs between the
 * backends is given in both dialects.
 */
#ifndef TGH_TESTS_UNIT_STORE_FX_H
#define TGH_TESTS_UNIT_STORE_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "store/store.h"

struct store_fx {
    bool is_pg;
    char dir[256];
    char sub[300];
    char path[320];
    char url[1024];
    char admin_url[1024]; /* PostgreSQL: where the fixture's database is created */
    char dbname[64];
    struct store *st;
    sqlite3 *sq; /* the raw connection, as a reader CLI would have */
    PGconn *pq;
};

/* The server URL of the PostgreSQL runs, or NULL for SQLite. */
static inline const char *
store_fx_pg_url(void)
{
    const char *u = getenv("TGH_TEST_STORE_URL");

    return u != NULL && *u != '\0' ? u : NULL;
}

/* url with its database name replaced by db (query kept). */
static inline int
store_fx_url_with_db(const char *url, const char *db, char *out, size_t cap)
{
    const char *hostpart = strstr(url, "://");
    const char *slash, *query;

    if (hostpart == NULL)
        return -1;
    slash = strchr(hostpart + 3, '/');
    query = strchr(hostpart + 3, '?');
    if (slash == NULL || (query != NULL && query < slash))
        slash = query != NULL ? query : url + strlen(url);
    return snprintf(out, cap, "%.*s/%s%s", (int)(slash - url), url, db,
                    query != NULL ? query : "") >= (int)cap
               ? -1
               : 0;
}

static inline void
store_fx_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Run sql on a maintenance connection to the server. */
static inline int
store_fx_admin(const char *admin_url, const char *sql)
{
    PGconn *c = PQconnectdb(admin_url);
    PGresult *r;
    int ok;

    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "store_fx: cannot reach %s: %s", admin_url, PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    (void)PQsetNoticeProcessor(c, store_fx_quiet, NULL);
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "store_fx: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* A fresh, empty database (and with open_store, a store on it). */
static inline int
store_fx_init(struct store_fx *fx, const char *name, bool open_store)
{
    static unsigned seq;
    const char *pg = store_fx_pg_url();
    const char *tmp = getenv("TMPDIR");
    char sql[128];

    memset(fx, 0, sizeof(*fx));
    if (pg != NULL) {
        fx->is_pg = true;
        (void)snprintf(fx->admin_url, sizeof(fx->admin_url), "%s", pg);
        (void)snprintf(fx->dbname, sizeof(fx->dbname), "tgh_t_%ld_%u", (long)getpid(), seq++);
        (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", fx->dbname);
        if (store_fx_admin(pg, sql) != 0)
            return -1;
        (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fx->dbname);
        if (store_fx_admin(pg, sql) != 0 ||
            store_fx_url_with_db(pg, fx->dbname, fx->url, sizeof(fx->url)) != 0)
            return -1;
    } else {
        (void)snprintf(fx->dir, sizeof(fx->dir), "%s/%s.XXXXXX",
                       tmp != NULL && *tmp != '\0' ? tmp : "/tmp", name);
        if (mkdtemp(fx->dir) == NULL)
            return -1;
        /* A missing parent directory is created by the store. */
        (void)snprintf(fx->sub, sizeof(fx->sub), "%s/data", fx->dir);
        (void)snprintf(fx->path, sizeof(fx->path), "%s/tgh.db", fx->sub);
        (void)snprintf(fx->url, sizeof(fx->url), "sqlite://%s", fx->path);
        if (!open_store && mkdir(fx->sub, 0700) != 0)
            return -1;
    }
    if (open_store && store_open(fx->url, &fx->st) != TGH_OK) {
        fprintf(stderr, "store_open: %s\n", tgh_errmsg());
        return -1;
    }
    if (fx->is_pg) {
        fx->pq = PQconnectdb(fx->url);
        return PQstatus(fx->pq) == CONNECTION_OK ? 0 : -1;
    }
    return sqlite3_open(fx->path, &fx->sq) == SQLITE_OK ? 0 : -1;
}

static inline void
store_fx_fini(struct store_fx *fx)
{
    const char *suffixes[] = { "", "-wal", "-shm" };
    char p[400];

    store_close(fx->st);
    fx->st = NULL;
    if (fx->is_pg) {
        PQfinish(fx->pq);
        (void)snprintf(p, sizeof(p), "DROP DATABASE IF EXISTS %s WITH (FORCE)", fx->dbname);
        (void)store_fx_admin(fx->admin_url, p);
        return;
    }
    sqlite3_close(fx->sq);
    for (size_t i = 0; i < 3; i++) {
        (void)snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(fx->sub);
    (void)rmdir(fx->dir);
}

/* The first column of the first row as text (tgh_free()d by the caller); NULL for NULL. */
static inline char *
store_fx_text2(struct store_fx *fx, const char *sqlite_sql, const char *pg_sql)
{
    char *out = NULL;

    if (fx->is_pg) {
        PGresult *r = PQexec(fx->pq, pg_sql);

        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
            fprintf(stderr, "store_fx: %s: %s", pg_sql, PQerrorMessage(fx->pq));
            abort();
        }
        if (!PQgetisnull(r, 0, 0))
            out = tgh_strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
    } else {
        sqlite3_stmt *s = NULL;

        if (sqlite3_prepare_v2(fx->sq, sqlite_sql, -1, &s, NULL) != SQLITE_OK ||
            sqlite3_step(s) != SQLITE_ROW) {
            fprintf(stderr, "store_fx: %s: %s\n", sqlite_sql, sqlite3_errmsg(fx->sq));
            abort();
        }
        if (sqlite3_column_type(s, 0) != SQLITE_NULL)
            out = tgh_strdup((const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    return out;
}

/* One integer (booleans read as 1 and 0); NULL reads as -1. */
static inline int64_t
store_fx_i64_2(struct store_fx *fx, const char *sqlite_sql, const char *pg_sql)
{
    char *t = store_fx_text2(fx, sqlite_sql, pg_sql);
    int64_t v = -1;

    if (t != NULL)
        v = strcmp(t, "t") == 0 ? 1 : strcmp(t, "f") == 0 ? 0 : strtoll(t, NULL, 10);
    tgh_free(t);
    return v;
}

static inline void
store_fx_exec2(struct store_fx *fx, const char *sqlite_sql, const char *pg_sql)
{
    if (fx->is_pg) {
        PGresult *r = PQexec(fx->pq, pg_sql);

        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "store_fx: %s: %s", pg_sql, PQerrorMessage(fx->pq));
            abort();
        }
        PQclear(r);
    } else {
        char *msg = NULL;

        if (sqlite3_exec(fx->sq, sqlite_sql, NULL, NULL, &msg) != SQLITE_OK) {
            fprintf(stderr, "store_fx: %s: %s\n", sqlite_sql, msg);
            abort();
        }
    }
}

/* Run the common tests and those only the backend in use has. */
static inline int
store_fx_run(const char *name, const struct CMUnitTest *common, size_t n_common,
             const struct CMUnitTest *sqlite_only, size_t n_sqlite,
             const struct CMUnitTest *pg_only, size_t n_pg)
{
    bool pg = store_fx_pg_url() != NULL;
    const struct CMUnitTest *only = pg ? pg_only : sqlite_only;
    size_t n_only = pg ? n_pg : n_sqlite;
    struct CMUnitTest *all = tgh_calloc(n_common + n_only, sizeof(*all));
    char group[64];
    int failed;

    (void)snprintf(group, sizeof(group), "%s (%s)", name, pg ? "postgresql" : "sqlite");
    memcpy(all, common, n_common * sizeof(*all));
    if (n_only > 0)
        memcpy(all + n_common, only, n_only * sizeof(*all));
    failed = _cmocka_run_group_tests(group, all, n_common + n_only, NULL, NULL);
    tgh_free(all);
    return failed;
}

#define STORE_FX_N(a) (sizeof(a) / sizeof((a)[0]))
#define STORE_FX_RUN(name, common, sqlite_only, pg_only)                                          \
    store_fx_run(name, common, STORE_FX_N(common), sqlite_only, STORE_FX_N(sqlite_only), pg_only, \
                 STORE_FX_N(pg_only))

#endif
