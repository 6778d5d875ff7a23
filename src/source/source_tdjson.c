/* SPDX-License-Identifier: MIT */
/*
 * source_tdjson.c - TDLib's JSON interface, loaded at run time with dlopen.
 *
 * Only the four functions of td_json_client.h are used (td_create_client_id,
 * td_send, td_receive, td_execute): the same path loads the real libtdjson
 * and the scripted stand-in the tests use. The library is never unloaded:
 * TDLib keeps threads of its own running until the process ends.
 */
#include "source/source.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"

struct source_tdjson {
    void *lib;
    int (*create_client_id)(void);
    void (*send)(int client_id, const char *request);
    const char *(*receive)(double timeout);
    const char *(*execute)(const char *request);
};

const char *
source_tdjson_default_path(void)
{
    return TGH_TDJSON_DEFAULT;
}

tgh_err
source_tdjson_open(const char *path, struct source_tdjson **out)
{
    struct source_tdjson *tj;
    void *lib;

    if (path == NULL || *path == '\0')
        path = TGH_TDJSON_DEFAULT;
    if (access(path, R_OK) != 0)
        return tgh_errf(TGH_ENOTFOUND,
                        "TDLib JSON library %s: %s (run scripts/deps.sh, or set TGH_TDJSON)", path,
                        strerror(errno));
    /* No RTLD_DEEPBIND: AddressSanitizer does not support it. */
    lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return tgh_errf(TGH_EIO, "TDLib JSON library %s: %s", path, dlerror());
    tj = tgh_calloc(1, sizeof(*tj));
    tj->lib = lib;
    *(void **)&tj->create_client_id = dlsym(lib, "td_create_client_id");
    *(void **)&tj->send = dlsym(lib, "td_send");
    *(void **)&tj->receive = dlsym(lib, "td_receive");
    *(void **)&tj->execute = dlsym(lib, "td_execute");
    if (tj->create_client_id == NULL || tj->send == NULL || tj->receive == NULL ||
        tj->execute == NULL) {
        tgh_free(tj);
        return tgh_errf(TGH_EPROTO,
                        "TDLib JSON library %s lacks td_create_client_id, td_send, td_receive or "
                        "td_execute",
                        path);
    }
    *out = tj;
    return TGH_OK;
}

void
source_tdjson_close(struct source_tdjson *tj)
{
    tgh_free(tj); /* the library stays loaded: its threads may still run (NULL is fine) */
}

int
source_tdjson_client_new(struct source_tdjson *tj)
{
    return tj->create_client_id();
}

void
source_tdjson_send(struct source_tdjson *tj, int client_id, const char *request)
{
    tj->send(client_id, request);
}

const char *
source_tdjson_receive(struct source_tdjson *tj, double timeout_s)
{
    return tj->receive(timeout_s);
}

const char *
source_tdjson_execute(struct source_tdjson *tj, const char *request)
{
    return tj->execute(request);
}

tgh_err
source_tdjson_log_to_file(struct source_tdjson *tj, const char *path, int verbosity)
{
    json_t *req = json_pack("{s:s, s:{s:s, s:s, s:I, s:b}}", "@type", "setLogStream", "log_stream",
                            "@type", "logStreamFile", "path", path, "max_file_size",
                            (json_int_t)(10 << 20), "redirect_stderr", 0);
    json_t *lvl =
        json_pack("{s:s, s:i}", "@type", "setLogVerbosityLevel", "new_verbosity_level", verbosity);
    char *a = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    char *b = lvl != NULL ? json_dumps(lvl, JSON_COMPACT) : NULL;
    const char *r1 = a != NULL ? tj->execute(a) : NULL;
    bool ok1 = r1 != NULL && strstr(r1, "\"@type\":\"ok\"") != NULL;
    const char *r2 = b != NULL ? tj->execute(b) : NULL;
    bool ok2 = r2 != NULL && strstr(r2, "\"@type\":\"ok\"") != NULL;
    tgh_err rc = TGH_OK;

    if (!ok1 || !ok2)
        rc = tgh_errf(TGH_EIO, "TDLib log to %s: refused", path);
    json_decref(req);
    json_decref(lvl);
    tgh_free(a); /* json_dumps uses malloc */
    tgh_free(b);
    return rc;
}
