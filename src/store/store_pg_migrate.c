/* SPDX-License-Identifier: MIT */
/*
 * store_pg_migrate.c - the schema of the PostgreSQL store: the migrations
 * embedded from src/store/migrations/postgresql/, applied under an advisory
 * lock when a store opens, and the monthly partitions of messages, created
 * ahead at open and on demand for the dates a batch brings.
 */
#define TGH_LOG_SUB "store"

#include "store/store_pg_int.h"

#include <time.h>

#include "core/log.h"
#include "core/embed.h"

/* Generated from src/store/migrations/postgresql/NNN_name.sql, in file-name order. */
extern const struct tgh_embedded store_pg_migrations[];

/* ---- migrations ---- */

TGH_MUSTCHECK tgh_err
pg_query_i64(struct pg *pg, const char *sql, int64_t *out)
{
    PGresult *r = PQexec(pg->conn, sql);
    tgh_err rc = TGH_OK;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        rc = pg_fail(pg, r, "query");
    else
        *out = v_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK static tgh_err
migrations_check(int64_t current)
{
    int64_t known = 0;

    for (const struct tgh_embedded *m = store_pg_migrations; m->name != NULL; m++) {
        int64_t v = store_migration_version(m->name);

        /* A build invariant (cmake/embed.cmake sorts by name), checked anyway. */
        if (v <= known)
            return tgh_errf(TGH_EINVAL,
                            "store migration %s: name must start with a version "
                            "above %" PRId64 " (NNN_name.sql)",
                            m->name, known);
        known = v;
    }
    if (current > known)
        return tgh_errf(TGH_EINVAL,
                        "TGH_STORE: database schema version %" PRId64 " is newer than this "
                        "tgharvest knows (%" PRId64 "); use a newer tgharvest",
                        current, known);
    return TGH_OK;
}

/*
 * Apply what is missing in one transaction, under an advisory lock: several
 * processes opening a new database at once apply each file exactly once.
 */
TGH_MUSTCHECK tgh_err
pg_migrate(struct pg *pg)
{
    int64_t current = 0;
    tgh_err rc;

    rc = pg_exec_plain(pg, "BEGIN", "begin migration");
    if (rc != TGH_OK)
        return rc;
    rc = pg_exec_plain(pg, "SELECT pg_advisory_xact_lock(" LOCK_CLASS ", 1)", "lock migrations");
    if (rc == TGH_OK)
        rc = pg_exec_plain(
            pg,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at bigint NOT NULL)",
            "create schema_migrations");
    if (rc == TGH_OK)
        rc = pg_query_i64(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", &current);
    if (rc == TGH_OK)
        rc = migrations_check(current);
    for (const struct tgh_embedded *m = store_pg_migrations; rc == TGH_OK && m->name != NULL; m++) {
        int64_t v = store_migration_version(m->name);
        struct params p = { .n = 0 };
        PGresult *r;

        if (v <= current)
            continue;
        rc = pg_exec_plain(pg, m->data, m->name);
        if (rc != TGH_OK)
            break;
        p_int(&p, v);
        p_str(&p, m->name);
        p_int(&p, (int64_t)time(NULL));
        r = PQexecParams(pg->conn,
                         "INSERT INTO schema_migrations (version, name, applied_at)"
                         " VALUES ($1, $2, $3)",
                         p.n, NULL, p.v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(pg, r, "record migration");
        PQclear(r);
        if (rc == TGH_OK)
            log_info("applied migration %s", m->name);
    }
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "COMMIT", "commit migration");
    if (rc != TGH_OK)
        pg_rollback(pg);
    return rc;
}

/* ---- partitions ---- */

bool
pg_month_known(const struct pg *pg, int64_t month)
{
    for (size_t i = 0; i < pg->n_months; i++)
        if (pg->months[i] == month)
            return true;
    return false;
}

/*
 * Create the monthly partitions the times need, each in its own short
 * transaction before the batch's (creating a partition locks the parent
 * table; an empty partition left by a rolled-back batch is harmless).
 */
TGH_MUSTCHECK tgh_err
pg_partitions_ensure(struct pg *pg, const int64_t *times, size_t n)
{
    int64_t *need = tgh_malloc((n > 0 ? n : 1) * sizeof(*need));
    struct params p = { .n = 0 };
    size_t n_need = 0;
    tgh_err rc = TGH_OK;

    for (size_t i = 0; i < n; i++) {
        int64_t m = store_month_start(times[i]);
        bool dup = pg_month_known(pg, m);

        for (size_t j = 0; !dup && j < n_need; j++)
            dup = need[j] == m;
        if (!dup)
            need[n_need++] = m;
    }
    if (n_need > 0) {
        p_array(&p, need, n_need);
        rc = pg_exec_stmt(pg, P_PARTITIONS, &p, NULL, "create partitions");
        params_fini(&p);
    }
    for (size_t i = 0; rc == TGH_OK && i < n_need; i++) {
        if (pg->n_months == pg->cap_months) {
            pg->cap_months = pg->cap_months > 0 ? pg->cap_months * 2 : 32;
            pg->months = tgh_realloc(pg->months, pg->cap_months * sizeof(*pg->months));
        }
        pg->months[pg->n_months++] = need[i];
    }
    tgh_free(need);
    return rc;
}
