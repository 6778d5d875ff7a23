/* SPDX-License-Identifier: MIT */
/*
 * ingest.c - import throughput and memory against the raw SQLite limit.
 *
 * 1. Generate a synthetic single-chat Desktop export of N messages (default
 *    1,000,000) with varied text, entities, replies, media and edits.
 * 2. Import it exactly as `tgharvest import` does (pipeline_import_paths:
 *    streamed export reader, writer thread, batched store commits) into a
 *    fresh store, in a child process, timing it and reading its peak RSS.
 * 3. The raw limit, in another child: a fresh store with the same schema and
 *    FTS5 index, filled with the same rows (read back from step 2's database)
 *    by a plain prepared-statement INSERT loop in transactions of the same
 *    size, with no parsing, hashing, encoding or conflict checks.
 * Prints messages/s for both, the ratio, and the peak RSS of the import.
 *
 * usage: bench_ingest [N] [--dir DIR] [--keep]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/err.h"
#include "core/msg.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#define BATCH 500

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t
rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const words[] = {
    "harbour", "vessel", "cargo",  "tanker",   "pilot",   "berth",  "crane",    "container",
    "fog",     "tide",   "report", "schedule", "arrival", "depart", "customs",  "freight",
    "weather", "storm",  "north",  "south",    "channel", "update", "breaking", "market",
    "price",   "oil",    "grain",  "steel",    "port",    "канал",  "новости",  "порт",
    "судно",   "груз",   "погода", "Straße",   "Hafen",   "café",   "naïve",    "2024",
    "#news",   "@desk",  "✅",      "🚢",        "📈",       "the",    "and",      "of",
};

#define NWORDS (sizeof(words) / sizeof(words[0]))

/* JSON-safe text (the vocabulary has no quotes or backslashes). */
static void
gen_text(char *buf, size_t cap, size_t *len)
{
    size_t n = 0, target = 40 + rnd(260);

    while (n < target && n + 40 < cap) {
        const char *w = words[rnd(NWORDS)];
        size_t wl = strlen(w);

        if (n > 0)
            buf[n++] = ' ';
        memcpy(buf + n, w, wl);
        n += wl;
    }
    buf[n] = '\0';
    *len = n;
}

static int
generate(const char *path, int64_t n)
{
    FILE *f = fopen(path, "w");
    const int64_t base = 1600000000;
    char text[512], bold[512];
    size_t tl, bl;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    fprintf(f, "{\n \"name\": \"Bench Channel\",\n \"type\": \"public_channel\",\n"
               " \"id\": 1555000111,\n \"messages\": [\n");
    for (int64_t i = 1; i <= n; i++) {
        int64_t date = base + i * 7;
        int kind = (int)rnd(20);

        gen_text(text, sizeof(text), &tl);
        fprintf(f,
                "  {\n   \"id\": %" PRId64 ",\n   \"type\": \"message\",\n"
                "   \"date\": \"2020-09-13T12:26:40\",\n   \"date_unixtime\": \"%" PRId64 "\",\n",
                i, date);
        if (kind == 0)
            fprintf(f,
                    "   \"edited\": \"2020-09-13T12:30:00\",\n   \"edited_unixtime\": \"%" PRId64
                    "\",\n",
                    date + 60);
        fprintf(f, "   \"from\": \"Bench Channel\",\n   \"from_id\": \"channel1555000111\",\n");
        if (kind == 1 && i > 1)
            fprintf(f, "   \"reply_to_message_id\": %" PRId64 ",\n",
                    i - 1 - rnd((uint32_t)(i - 1)));
        if (kind == 2)
            fprintf(f,
                    "   \"photo\": \"photos/photo_%" PRId64 "@13-09-2020_12-26-40.jpg\",\n"
                    "   \"photo_file_size\": %u,\n   \"width\": 1280,\n   \"height\": 720,\n",
                    i, 50000 + rnd(200000));
        if (kind == 3)
            fprintf(f,
                    "   \"file\": \"(File not included. Change data exporting settings to "
                    "download.)\",\n   \"file_name\": \"doc_%" PRId64 ".pdf\",\n"
                    "   \"file_size\": %u,\n   \"mime_type\": \"application/pdf\",\n",
                    i, 10000 + rnd(900000));
        if (kind < 6) {
            gen_text(bold, 48, &bl);
            fprintf(
                f,
                "   \"text\": [\n    {\n     \"type\": \"bold\",\n     \"text\": \"%s\"\n    },\n"
                "    \" %s\"\n   ],\n   \"text_entities\": [\n    {\n     \"type\": \"bold\",\n"
                "     \"text\": \"%s\"\n    },\n    {\n     \"type\": \"plain\",\n"
                "     \"text\": \" %s\"\n    }\n   ]\n",
                bold, text, bold, text);
        } else {
            fprintf(f,
                    "   \"text\": \"%s\",\n   \"text_entities\": [\n    {\n"
                    "     \"type\": \"plain\",\n     \"text\": \"%s\"\n    }\n   ]\n",
                    text, text);
        }
        fprintf(f, "  }%s\n", i < n ? "," : "");
    }
    fprintf(f, " ]\n}\n");
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

/* Child 1: the real import path, as `tgharvest import` runs it. */
static int
child_import(const char *export_path, const char *db_url)
{
    struct pipeline_import_opts o = { .batch_size = BATCH };
    struct pipeline_import_totals tot = { 0 };
    char *paths[1] = { (char *)export_path };

    if (pipeline_import_paths(db_url, paths, 1, &o, NULL, &tot) != TGH_OK) {
        fprintf(stderr, "import: %s\n", tgh_errmsg());
        return 1;
    }
    return tot.dead_letters == 0 ? 0 : 1;
}

/*
 * Child 2: the raw limit. Rows are read from the imported database and
 * inserted unchanged with one prepared statement; the FTS5 index is kept by
 * the schema exactly as in the import.
 */
static int
child_raw(const char *src_db, const char *dst_url, const char *dst_db)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_stmt *sel = NULL, *ins = NULL;
    struct store *st;
    char sql[4096];
    int ncol, rc, n = 0, ret = 1;

    /* Create the schema through the store, then write to it directly. */
    if (store_open(dst_url, &st) != TGH_OK) {
        fprintf(stderr, "store: %s\n", tgh_errmsg());
        return 1;
    }
    store_close(st);
    if (sqlite3_open_v2(src_db, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_open_v2(dst_db, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        goto out;
    sqlite3_exec(dst, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    /* The chats the messages belong to, as the import created them. */
    {
        char attach[4400];

        snprintf(attach, sizeof(attach), "ATTACH DATABASE 'file:%s?mode=ro' AS src", src_db);
        if (sqlite3_exec(dst, attach, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(dst, "INSERT INTO chats SELECT * FROM src.chats; DETACH DATABASE src",
                         NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "raw chats: %s\n", sqlite3_errmsg(dst));
            goto out;
        }
    }
    if (sqlite3_prepare_v2(src, "SELECT * FROM messages ORDER BY rowid", -1, &sel, NULL) !=
        SQLITE_OK)
        goto out;
    ncol = sqlite3_column_count(sel);
    {
        size_t off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO messages VALUES (");
        for (int i = 0; i < ncol && off < sizeof(sql) - 8; i++)
            off += (size_t)snprintf(sql + off, sizeof(sql) - off, i ? ",?" : "?");
        snprintf(sql + off, sizeof(sql) - off, ")");
    }
    if (sqlite3_prepare_v2(dst, sql, -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "raw: %s\n", sqlite3_errmsg(dst));
        goto out;
    }
    sqlite3_exec(dst, "BEGIN", NULL, NULL, NULL);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        for (int i = 0; i < ncol; i++)
            sqlite3_bind_value(ins, i + 1, sqlite3_column_value(sel, i));
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "raw insert: %s\n", sqlite3_errmsg(dst));
            goto out;
        }
        sqlite3_reset(ins);
        if (++n % BATCH == 0) {
            sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL);
            sqlite3_exec(dst, "BEGIN", NULL, NULL, NULL);
        }
    }
    sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL);
    ret = rc == SQLITE_DONE ? 0 : 1;
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_close(src);
    sqlite3_close(dst);
    return ret;
}

struct child_result {
    double seconds;
    long maxrss_kb;
    int status;
};

static struct child_result
run_child(int (*fn)(const char *, const char *, const char *), const char *a, const char *b,
          const char *c)
{
    struct child_result r = { 0 };
    struct rusage ru;
    double t0 = now_s();
    pid_t pid = fork();
    int st = 0;

    if (pid == 0)
        _exit(fn(a, b, c));
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0) {
        r.status = -1;
        return r;
    }
    r.seconds = now_s() - t0;
    r.maxrss_kb = ru.ru_maxrss;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return r;
}

static int
do_import(const char *a, const char *b, const char *c)
{
    (void)c;
    return child_import(a, b);
}

static int
do_raw(const char *a, const char *b, const char *c)
{
    return child_raw(a, b, c);
}

static int64_t
count_rows(const char *db)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    int64_t n = -1;

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM messages", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    return n;
}

int
main(int argc, char **argv)
{
    int64_t n = 1000000;
    const char *dir = NULL;
    bool keep = false;
    char tmpl[] = "/tmp/tgh-bench-XXXXXX";
    char export_path[4200], db1[4200], db2[4200], url1[4300], url2[4300];
    struct child_result imp, raw;
    struct stat sb;
    double rate_imp, rate_raw;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0)
            keep = true;
        else
            n = strtoll(argv[i], NULL, 10);
    }
    if (n <= 0) {
        fprintf(stderr, "usage: bench_ingest [N] [--dir DIR] [--keep]\n");
        return 2;
    }
    if (dir == NULL && (dir = mkdtemp(tmpl)) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(export_path, sizeof(export_path), "%s/result.json", dir);
    snprintf(db1, sizeof(db1), "%s/import.db", dir);
    snprintf(db2, sizeof(db2), "%s/raw.db", dir);
    snprintf(url1, sizeof(url1), "sqlite://%s", db1);
    snprintf(url2, sizeof(url2), "sqlite://%s", db2);
    unlink(db1);
    unlink(db2);

    printf("bench_ingest: generating %" PRId64 " messages...\n", n);
    fflush(stdout);
    if (generate(export_path, n) != 0 || stat(export_path, &sb) != 0)
        return 1;
    printf("export: %s, %.1f MB\n", export_path, (double)sb.st_size / 1e6);
    fflush(stdout);

    imp = run_child(do_import, export_path, url1, NULL);
    if (imp.status != 0 || count_rows(db1) != n) {
        fprintf(stderr, "import failed (status %d, %" PRId64 " rows)\n", imp.status,
                count_rows(db1));
        return 1;
    }
    raw = run_child(do_raw, db1, url2, db2);
    if (raw.status != 0 || count_rows(db2) != n) {
        fprintf(stderr, "raw loop failed (status %d)\n", raw.status);
        return 1;
    }
    rate_imp = (double)n / imp.seconds;
    rate_raw = (double)n / raw.seconds;
    printf("import (tgharvest path):   %10.0f msg/s  %7.1f s  peak RSS %6.1f MB\n", rate_imp,
           imp.seconds, (double)imp.maxrss_kb / 1024.0);
    printf("raw limit (plain INSERT):  %10.0f msg/s  %7.1f s  peak RSS %6.1f MB\n", rate_raw,
           raw.seconds, (double)raw.maxrss_kb / 1024.0);
    printf("ratio import/raw: %.2f (target >= 0.80); import peak RSS %.1f MB (target < 64)\n",
           rate_imp / rate_raw, (double)imp.maxrss_kb / 1024.0);
    if (!keep) {
        char side[4300];

        unlink(export_path);
        unlink(db1);
        unlink(db2);
        snprintf(side, sizeof(side), "%s-wal", db1);
        unlink(side);
        snprintf(side, sizeof(side), "%s-wal", db2);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", db1);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", db2);
        unlink(side);
        if (strncmp(dir, "/tmp/tgh-bench-", 15) == 0)
            rmdir(dir);
    }
    return 0;
}
