/* SPDX-License-Identifier: MIT */
/*
 * media_policy.c - the media policy: kinds kept, the largest file, how far
 * back into history, thumbnails only (media.h). Settings are parsed here
 * once; media_policy_decide() is called per file and allocates nothing.
 */
#include "media/media.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

static const struct {
    const char *name;
    unsigned bit;
} kind_names[] = {
    { "photo", MEDIA_K_PHOTO },         { "video", MEDIA_K_VIDEO },
    { "animation", MEDIA_K_ANIMATION }, { "audio", MEDIA_K_AUDIO },
    { "voice", MEDIA_K_VOICE },         { "video_note", MEDIA_K_VIDEO_NOTE },
    { "sticker", MEDIA_K_STICKER },     { "document", MEDIA_K_DOCUMENT },
    { "other", MEDIA_K_OTHER },
};

unsigned
media_kind_bit(const char *kind)
{
    for (size_t i = 0; kind != NULL && i < TGH_NELEM(kind_names); i++)
        if (strcmp(kind, kind_names[i].name) == 0)
            return kind_names[i].bit;
    return MEDIA_K_OTHER;
}

/* "photo,voice", "all", "none" or "" (none) into *out; what names the setting. */
static tgh_err
parse_kinds(const char *s, const char *what, unsigned *out)
{
    unsigned bits = 0;

    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        bool known = false;

        if (n == 3 && strncmp(s, "all", 3) == 0) {
            bits |= MEDIA_K_ALL;
            known = true;
        } else if (n == 4 && strncmp(s, "none", 4) == 0) {
            known = true;
        }
        for (size_t i = 0; !known && i < TGH_NELEM(kind_names); i++) {
            if (strlen(kind_names[i].name) == n && strncmp(s, kind_names[i].name, n) == 0) {
                bits |= kind_names[i].bit;
                known = true;
            }
        }
        if (!known && n > 0)
            return tgh_errf(TGH_EINVAL,
                            "%s: unknown media kind '%.*s' (photo, video, animation, audio, voice, "
                            "video_note, sticker, document, other, all, none)",
                            what, (int)(n > 64 ? 64 : n), s);
        s += n;
        if (*s == ',')
            s++;
    }
    *out = bits;
    return TGH_OK;
}

/* "1048576", "100K", "20M", "2G", "0" into bytes. */
static tgh_err
parse_size(const char *s, size_t n, const char *what, int64_t *out)
{
    int64_t v = 0, mult = 1;
    size_t i = 0;

    if (n > 0 && (s[n - 1] == 'K' || s[n - 1] == 'k'))
        mult = INT64_C(1) << 10;
    else if (n > 0 && (s[n - 1] == 'M' || s[n - 1] == 'm'))
        mult = INT64_C(1) << 20;
    else if (n > 0 && (s[n - 1] == 'G' || s[n - 1] == 'g'))
        mult = INT64_C(1) << 30;
    if (mult > 1)
        n--;
    if (n == 0)
        goto bad;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX / 10 - 9) / mult)
            goto bad;
        v = v * 10 + (s[i] - '0');
    }
    *out = v * mult;
    return TGH_OK;
bad:
    return tgh_errf(TGH_EINVAL, "%s: '%.*s' is not a size (bytes, or a number with K, M or G)",
                    what, (int)(n > 64 ? 64 : n), s);
}

/* "all", "none", "30d" into days (-1 all, 0 none). */
static tgh_err
parse_history(const char *s, size_t n, const char *what, int64_t *out)
{
    int64_t v = 0;

    if (n == 3 && strncmp(s, "all", 3) == 0) {
        *out = -1;
        return TGH_OK;
    }
    if (n == 4 && strncmp(s, "none", 4) == 0) {
        *out = 0;
        return TGH_OK;
    }
    if (n < 2 || s[n - 1] != 'd')
        goto bad;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > 36500)
            goto bad;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return TGH_OK;
bad:
    return tgh_errf(TGH_EINVAL, "%s: '%.*s' is not all, none or a number of days such as 30d", what,
                    (int)(n > 64 ? 64 : n), s);
}

tgh_err
media_policy_init(struct media_policy *p, const char *kinds, const char *max_size,
                  const char *history, const char *thumbs)
{
    struct media_policy q;
    tgh_err rc;

    if (kinds == NULL)
        kinds = MEDIA_POLICY_DEFAULT_KINDS;
    if (max_size == NULL)
        max_size = MEDIA_POLICY_DEFAULT_MAX;
    if (history == NULL)
        history = MEDIA_POLICY_DEFAULT_HISTORY;
    if (thumbs == NULL)
        thumbs = MEDIA_POLICY_DEFAULT_THUMBS;
    if ((rc = parse_kinds(kinds, "TGH_MEDIA_KINDS", &q.kinds)) != TGH_OK ||
        (rc = parse_size(max_size, strlen(max_size), "TGH_MEDIA_MAX_SIZE", &q.max_size)) !=
            TGH_OK ||
        (rc = parse_history(history, strlen(history), "TGH_MEDIA_HISTORY", &q.history_days)) !=
            TGH_OK ||
        (rc = parse_kinds(thumbs, "TGH_MEDIA_THUMBS", &q.thumbs)) != TGH_OK)
        return rc;
    *p = q;
    return TGH_OK;
}

tgh_err
media_policy_apply(struct media_policy *p, const char *spec)
{
    struct media_policy q = *p;
    char buf[512];
    tgh_err rc = TGH_OK;

    while (*spec != '\0') {
        size_t n = strcspn(spec, ";");
        const char *eq = memchr(spec, '=', n);
        size_t klen = eq != NULL ? (size_t)(eq - spec) : n;
        const char *v = eq != NULL ? eq + 1 : spec + n;
        size_t vlen = (size_t)(spec + n - v);

        if (eq == NULL && n > 0)
            return tgh_errf(TGH_EINVAL, "media policy: '%.*s' is not KEY=VALUE",
                            (int)(n > 64 ? 64 : n), spec);
        if (klen == 5 && strncmp(spec, "kinds", 5) == 0) {
            if (vlen >= sizeof(buf))
                return tgh_errf(TGH_EINVAL, "media policy: kinds too long");
            memcpy(buf, v, vlen);
            buf[vlen] = '\0';
            rc = parse_kinds(buf, "media policy kinds", &q.kinds);
        } else if (klen == 6 && strncmp(spec, "thumbs", 6) == 0) {
            if (vlen >= sizeof(buf))
                return tgh_errf(TGH_EINVAL, "media policy: thumbs too long");
            memcpy(buf, v, vlen);
            buf[vlen] = '\0';
            rc = parse_kinds(buf, "media policy thumbs", &q.thumbs);
        } else if (klen == 3 && strncmp(spec, "max", 3) == 0) {
            rc = parse_size(v, vlen, "media policy max", &q.max_size);
        } else if (klen == 7 && strncmp(spec, "history", 7) == 0) {
            rc = parse_history(v, vlen, "media policy history", &q.history_days);
        } else if (n > 0) {
            return tgh_errf(TGH_EINVAL,
                            "media policy: unknown key '%.*s' (kinds, max, history, thumbs)",
                            (int)(klen > 64 ? 64 : klen), spec);
        }
        if (rc != TGH_OK)
            return rc;
        spec += n;
        if (*spec == ';')
            spec++;
    }
    *p = q;
    return TGH_OK;
}

static size_t
kinds_format(unsigned bits, char *out, size_t cap)
{
    size_t len = 0;
    int k;

    if (cap == 0)
        return 0;
    out[0] = '\0';
    if (bits == MEDIA_K_ALL)
        k = snprintf(out, cap, "all");
    else if (bits == 0)
        k = snprintf(out, cap, "none");
    else
        k = 0;
    if (k > 0)
        return (size_t)k < cap ? (size_t)k : cap - 1;
    for (size_t i = 0; i < TGH_NELEM(kind_names); i++) {
        if ((bits & kind_names[i].bit) == 0)
            continue;
        k = snprintf(out + len, cap - len, "%s%s", len > 0 ? "," : "", kind_names[i].name);
        if (k < 0 || (size_t)k >= cap - len)
            return len;
        len += (size_t)k;
    }
    return len;
}

size_t
media_policy_format(const struct media_policy *p, char *out, size_t cap)
{
    char kinds[128], thumbs[128], max[32], hist[32];
    int k;

    (void)kinds_format(p->kinds, kinds, sizeof(kinds));
    (void)kinds_format(p->thumbs, thumbs, sizeof(thumbs));
    if (p->max_size > 0 && p->max_size % (INT64_C(1) << 30) == 0)
        (void)snprintf(max, sizeof(max), "%" PRId64 "G", p->max_size >> 30);
    else if (p->max_size > 0 && p->max_size % (INT64_C(1) << 20) == 0)
        (void)snprintf(max, sizeof(max), "%" PRId64 "M", p->max_size >> 20);
    else if (p->max_size > 0 && p->max_size % 1024 == 0)
        (void)snprintf(max, sizeof(max), "%" PRId64 "K", p->max_size >> 10);
    else
        (void)snprintf(max, sizeof(max), "%" PRId64, p->max_size);
    if (p->history_days < 0)
        (void)snprintf(hist, sizeof(hist), "all");
    else if (p->history_days == 0)
        (void)snprintf(hist, sizeof(hist), "none");
    else
        (void)snprintf(hist, sizeof(hist), "%" PRId64 "d", p->history_days);
    k = snprintf(out, cap, "kinds=%s;max=%s;history=%s;thumbs=%s", kinds, max, hist,
                 p->thumbs == 0 ? "" : thumbs);
    if (k < 0)
        return 0;
    return (size_t)k < cap ? (size_t)k : (cap > 0 ? cap - 1 : 0);
}

enum media_decision
media_policy_decide(const struct media_policy *p, const char *kind, int64_t size, int64_t date,
                    int64_t added_at, const char **why)
{
    unsigned bit = media_kind_bit(kind);
    bool thumb = (p->thumbs & bit) != 0;

    *why = NULL;
    if ((p->kinds & bit) == 0 && !thumb) {
        *why = "policy: kind not kept";
        return MEDIA_SKIP;
    }
    if (added_at > 0 && p->history_days >= 0 && date < added_at - p->history_days * 86400) {
        *why = p->history_days == 0 ? "policy: history before the chat was added"
                                    : "policy: history older than the days kept";
        return MEDIA_SKIP;
    }
    if (thumb)
        return MEDIA_THUMB;
    if (p->max_size > 0 && size > p->max_size) {
        *why = "policy: larger than the size kept";
        return MEDIA_SKIP;
    }
    return MEDIA_KEEP;
}
