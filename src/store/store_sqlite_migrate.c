/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_migrate.c - the schema of the SQLite store: the migrations
 * embedded from src/store/migrations/sqlite/, each applied and recorded in
 * schema_migrations in one transaction when a store opens.
 */
#define TGH_LOG_SUB "store"

#include "store/store_sqlite_int.h"

#include <inttypes.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#include "core/embed.h"
#include "core/log.h"

/* Generated from src/store/migrations/sqlite/NNN_name.sql, in file-name order. */
extern const struct tgh_embedded store_sqlite_migrations[];

/* Apply one migration and record it, in one transaction. */
TGH_MUSTCHECK static tgh_err
migrate_one(struct sq *sq, const struct tgh_embedded *m, int64_t version)
{
    sqlite3_stmt *s = NULL;
    int64_t done = 0;
    tgh_err rc;
    int src;

    rc = exec_sql(sq, "BEGIN IMMEDIATE", "begin migration");
    if (rc != TGH_OK)
        return rc;
    /* Another process may have applied it while we waited for the lock. */
    src = sqlite3_prepare_v2(sq->db, "SELECT count(*) FROM schema_migrations WHERE version = ?1",
                             -1, &s, NULL);
    if (src != SQLITE_OK) {
        rc = sq_fail(sq, src, "prepare");
        goto out;
    }
    (void)sqlite3_bind_int64(s, 1, version);
    if ((src = sqlite3_step(s)) != SQLITE_ROW) {
        rc = sq_fail(sq, src, "read schema_migrations");
        goto out;
    }
    done = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (done > 0)
        goto out;

    rc = exec_sql(sq, m->data, m->name);
    if (rc != TGH_OK)
        goto out;
    src = sqlite3_prepare_v2(sq->db,
                             "INSERT INTO schema_migrations (version, name, applied_at)"
                             " VALUES (?1, ?2, ?3)",
                             -1, &s, NULL);
    if (src != SQLITE_OK) {
        rc = sq_fail(sq, src, "prepare");
        goto out;
    }
    (void)sqlite3_bind_int64(s, 1, version);
    (void)sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    if ((src = sqlite3_step(s)) != SQLITE_DONE) {
        rc = sq_fail(sq, src, "record migration");
        goto out;
    }
    rc = exec_sql(sq, "COMMIT", "commit migration");
    if (rc == TGH_OK)
        log_info("applied migration %s", m->name);
out:
    sqlite3_finalize(s);
    /* Not through exec_sql(): the first error's detail is the one to report. */
    if (!sqlite3_get_autocommit(sq->db))
        (void)sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_migrate(struct sq *sq)
{
    int64_t current = 0, known = 0;
    tgh_err rc;

    rc = exec_sql(sq,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " applied_at INTEGER NOT NULL)",
                  "create schema_migrations");
    if (rc != TGH_OK)
        return rc;
    rc = query_i64(sq, "SELECT coalesce(max(version), 0) FROM schema_migrations", &current);
    if (rc != TGH_OK)
        return rc;
    for (const struct tgh_embedded *m = store_sqlite_migrations; m->name != NULL; m++) {
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
    for (const struct tgh_embedded *m = store_sqlite_migrations; m->name != NULL; m++) {
        int64_t v = store_migration_version(m->name);

        if (v <= current)
            continue;
        rc = migrate_one(sq, m, v);
        if (rc != TGH_OK)
            return rc;
    }
    return TGH_OK;
}
