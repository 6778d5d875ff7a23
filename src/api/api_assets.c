/* SPDX-License-Identifier: MIT */
/*
 * api_assets.c - the dashboard's files and the OpenAPI document, compiled
 * into the binary (cmake/embed.cmake), so the server needs no files at run
 * time and no CDN. Names are matched exactly against the embedded table:
 * a request can never reach the file system.
 */
#include "api/api.h"

#include <string.h>

#include "api/api_req_int.h"
#include "api/api_routes_int.h"
#include "core/embed.h"

/* cmake/embed.cmake: src/api/assets/ and docs/openapi.json. */
extern const struct tgh_embedded api_assets[];

static const struct tgh_embedded *
asset_find(const char *name)
{
    for (const struct tgh_embedded *a = api_assets; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static const char *
content_type(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

/* The embedded file as the answer, with headers that keep the page self-contained. */
static void
reply_asset(struct api_req *r, const struct tgh_embedded *a)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->len, (void *)(uintptr_t)a->data, MHD_RESPMEM_PERSISTENT);

    if (resp == NULL) {
        api_reply_error(r, 500, "internal", "cannot answer");
        return;
    }
    (void)MHD_add_response_header(resp, "Content-Type", content_type(a->name));
    (void)MHD_add_response_header(resp, "Cache-Control", "no-cache");
    (void)MHD_add_response_header(
        resp, "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    (void)MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    r->resp = resp;
    r->status = 200;
}

void
api_h_asset(struct api_req *r)
{
    const char *name = strcmp(r->path, "/") == 0 ? "index.html" : r->path + strlen("/assets/");
    const struct tgh_embedded *a;

    /* openapi.json is served at its own route only. */
    if (strcmp(name, "openapi.json") == 0 || (a = asset_find(name)) == NULL) {
        api_reply_error(r, 404, "not_found", "no such file");
        return;
    }
    reply_asset(r, a);
}

void
api_h_openapi(struct api_req *r)
{
    const struct tgh_embedded *a = asset_find("openapi.json");

    if (a == NULL) {
        api_reply_error(r, 404, "not_found", "no OpenAPI document in this build");
        return;
    }
    reply_asset(r, a);
}
