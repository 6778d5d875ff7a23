/* SPDX-License-Identifier: MIT */
/*
 * cmd_import.h - the import loop, shared by `import` and `run --import`.
 */
#ifndef TGH_CLI_CMD_IMPORT_H
#define TGH_CLI_CMD_IMPORT_H

#include <glob.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

struct import_opts {
    const char *tz;
    size_t batch_size;
    bool progress; /* progress line when stderr is a terminal */
};

struct import_totals {
    uint64_t files;
    uint64_t chats;
    uint64_t messages;
    uint64_t dead_letters;
    uint64_t bytes;
    struct store_stats stats;
    double started; /* monotonic seconds */
};

/* Import one file; on failure the detail is in tgh_errmsg() and names the file. */
TGH_MUSTCHECK tgh_err import_file(struct store *st, const char *path, const struct import_opts *o,
                                  struct import_totals *tot);

/* Files and directories (their *.json); errors are printed, the first returned. */
TGH_MUSTCHECK tgh_err import_paths(struct store *st, char **paths, int npaths,
                                   const struct import_opts *o, struct import_totals *tot,
                                   int *failed_files);

#endif
