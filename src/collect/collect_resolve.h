/* SPDX-License-Identifier: MIT */
/*
 * collect_resolve.h - chat specs and their resolution through TDLib
 * (private to src/collect/).
 */
#ifndef TGH_COLLECT_COLLECT_RESOLVE_H
#define TGH_COLLECT_COLLECT_RESOLVE_H

#include <stdarg.h>

#include "collect/collect_int.h"

enum resolve_kind { RESOLVE_ID = 0, RESOLVE_USERNAME, RESOLVE_INVITE };

struct resolve_spec {
    enum resolve_kind kind;
    char text[256];    /* the spec as given */
    char username[64]; /* RESOLVE_USERNAME */
    int64_t chat_id;   /* RESOLVE_ID, or known from before */
};

/* Parse what a user typed; TGH_EINVAL naming it when it is no chat. */
TGH_MUSTCHECK tgh_err resolve_parse(const char *spec, struct resolve_spec *out);

enum resolve_state {
    RESOLVE_S_START = 0,
    RESOLVE_S_GETCHAT,
    RESOLVE_S_SEARCH,
    RESOLVE_S_INVITE,
    RESOLVE_S_JOIN,
    RESOLVE_S_SUPERGROUP,
    RESOLVE_S_FULL,
    RESOLVE_S_LINKED,
    RESOLVE_S_DONE,
};

struct resolve {
    /* in */
    struct resolve_spec spec;
    struct td_acct *acct;
    bool join;        /* join by invite link when not a member */
    bool want_linked; /* also make the discussion group known (comments) */
    struct td_counts *counts;
    void (*done)(void *arg, struct resolve *r);
    void *arg;
    /* out */
    enum resolve_state state;
    int64_t chat_id;
    enum msg_chat_type type;
    int64_t supergroup_id;
    bool is_forum;
    bool
        history_hidden; /* supergroupFullInfo.is_all_history_available false: not before the join */
    int64_t linked_chat_id;
    char title[256];
    char username[64];
    char linked_title[256];
    char error[512]; /* "" on success */
    int error_code;
    bool searched;
};

/* Run the requests; r->done is called once (error[] set on failure). */
void resolve_start(struct resolve *r);

/* 4xx other than 429: the chat cannot be read and retrying will not help. */
bool resolve_error_is_permanent(int code);

#endif
