/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - families in an array sorted by name under the registry lock;
 * each family keeps its series in an open-addressing hash table under its
 * own mutex. Nothing is removed before tgh_metrics_reset(), so a family or
 * series pointer, once found, stays valid. Locks never nest, except that
 * hooks run under collect_mu and take the others.
 */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/utf8.h"

#define TGH_LOG_SUB "metrics"

#define MAX_HOOKS    32
#define DROPPED_NAME "tgh_metrics_series_dropped_total"
#define DROPPED_HELP "Updates dropped because their family was at its cap of series, by family."

enum kind { COUNTER, GAUGE, HISTOGRAM };
enum op { OP_ADD, OP_SET, OP_OBSERVE };

struct series {
    uint64_t hash;
    char *values[TGH_METRIC_MAX_LABELS]; /* NULL past the family's labels */
    double value;                        /* counter, gauge; histogram: sum */
    uint64_t count;                      /* histogram: observations */
    uint64_t buckets[];                  /* histogram: in (bounds[i-1], bounds[i]] */
};

struct tgh_metric {
    char *name, *help, *label_spec;
    enum kind kind;
    size_t nlabels, nbounds;
    char *labels[TGH_METRIC_MAX_LABELS];
    double bounds[TGH_METRIC_MAX_BOUNDS];
    pthread_mutex_t mu;    /* everything below */
    struct series **slots; /* power-of-two size, at most half full */
    size_t nslots, nseries;
    bool has_dropped; /* the cap was hit: logged once */
};

/* Cleaned label values of one update and their hash. */
struct key {
    char values[TGH_METRIC_MAX_LABELS][TGH_METRIC_VALUE_MAX + 1];
    uint64_t hash;
};

struct hook {
    tgh_metrics_collect_fn *fn;
    void *arg;
};

static struct {
    pthread_mutex_t mu;       /* fams */
    struct tgh_metric **fams; /* sorted by name */
    size_t nfams, cap;
    pthread_mutex_t collect_mu; /* hooks; held while they run */
    struct hook hooks[MAX_HOOKS];
    size_t nhooks;
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER, .collect_mu = PTHREAD_MUTEX_INITIALIZER };

/* The Prometheus grammar: metric names may contain ':', label names may not. */
static bool
is_valid_name(const char *s, size_t len, bool is_label)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    if (is_label && len >= 2 && s[0] == '_' && s[1] == '_')
        return false; /* reserved for Prometheus itself */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (c == ':' && !is_label)))
            return false;
    }
    return true;
}

/* "route,status" into m->labels, each checked; "" is no labels. */
static void
parse_labels(struct tgh_metric *m, const char *spec)
{
    if (*spec == '\0')
        return;
    for (const char *p = spec;; p++) {
        size_t n = strcspn(p, ",");

        TGH_ASSERT(m->nlabels < TGH_METRIC_MAX_LABELS);
        TGH_ASSERT(is_valid_name(p, n, true));
        m->labels[m->nlabels++] = tgh_strndup(p, n);
        p += n;
        if (*p == '\0')
            break;
    }
    for (size_t i = 0; i < m->nlabels; i++) {
        TGH_ASSERT(m->kind != HISTOGRAM || strcmp(m->labels[i], "le") != 0);
        for (size_t j = 0; j < i; j++)
            TGH_ASSERT(strcmp(m->labels[i], m->labels[j]) != 0);
    }
}

static bool
is_same_bounds(const struct tgh_metric *m, const double *bounds, size_t nbounds)
{
    if (m->nbounds != nbounds)
        return false;
    for (size_t i = 0; i < nbounds; i++) {
        if (m->bounds[i] != bounds[i])
            return false;
    }
    return true;
}

/*
 * in as a label value: at most TGH_METRIC_VALUE_MAX bytes of valid UTF-8,
 * '?' for every other byte, so a value cut at the limit ends in '?' rather
 * than half a character. Into the caller's buffer, not the heap: it runs on
 * every update.
 */
static void
clean_value(const char *in, char out[static TGH_METRIC_VALUE_MAX + 1])
{
    (void)tgh_utf8_printable_into(in, strnlen(in, TGH_METRIC_VALUE_MAX), out, TGH_METRIC_VALUE_MAX);
}

/* Hash: FNV-1a over the values, each followed by 0xff, a byte UTF-8 never uses. */
static void
key_make(struct key *k, const struct tgh_metric *m, const char *const *values)
{
    uint64_t h = 14695981039346656037u;

    TGH_ASSERT(m->nlabels == 0 || values != NULL);
    for (size_t i = 0; i < m->nlabels; i++) {
        TGH_ASSERT(values[i] != NULL);
        clean_value(values[i], k->values[i]);
        for (const char *c = k->values[i]; *c != '\0'; c++) {
            h ^= (unsigned char)*c;
            h *= 1099511628211u;
        }
        h ^= 0xffu;
        h *= 1099511628211u;
    }
    k->hash = h;
}

static bool
key_equal(const struct tgh_metric *m, const struct series *s, const struct key *k)
{
    if (s->hash != k->hash)
        return false;
    for (size_t i = 0; i < m->nlabels; i++) {
        if (strcmp(s->values[i], k->values[i]) != 0)
            return false;
    }
    return true;
}

/* The slot holding the series of k, or the empty slot where it belongs. */
static struct series **
slot_find(struct series **slots, size_t nslots, const struct tgh_metric *m, const struct key *k)
{
    size_t mask = nslots - 1;

    for (size_t i = (size_t)k->hash & mask;; i = (i + 1) & mask) {
        if (slots[i] == NULL || key_equal(m, slots[i], k))
            return &slots[i];
    }
}

static void
slots_grow(struct tgh_metric *m)
{
    size_t nslots = m->nslots * 2;
    struct series **slots = tgh_calloc(nslots, sizeof(*slots));

    for (size_t i = 0; i < m->nslots; i++) {
        struct series *s = m->slots[i];
        size_t j;

        if (s == NULL)
            continue;
        for (j = (size_t)s->hash & (nslots - 1); slots[j] != NULL; j = (j + 1) & (nslots - 1))
            ;
        slots[j] = s;
    }
    tgh_free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
}

/* The series of k, created if needed; NULL when that would pass the cap. Under m->mu. */
static struct series *
series_at(struct tgh_metric *m, const struct key *k)
{
    struct series **slot = slot_find(m->slots, m->nslots, m, k);
    struct series *s;

    if (*slot != NULL)
        return *slot;
    if (m->nseries >= TGH_METRIC_MAX_SERIES)
        return NULL;
    if (2 * (m->nseries + 1) > m->nslots) {
        slots_grow(m);
        slot = slot_find(m->slots, m->nslots, m, k);
    }
    s = tgh_calloc(1, sizeof(*s) + m->nbounds * sizeof(s->buckets[0]));
    s->hash = k->hash;
    for (size_t i = 0; i < m->nlabels; i++)
        s->values[i] = tgh_strdup(k->values[i]);
    *slot = s;
    m->nseries++;
    return s;
}

static struct tgh_metric *
family_new(const char *name, const char *help, const char *labels, enum kind kind,
           const double *bounds, size_t nbounds)
{
    struct tgh_metric *m = tgh_calloc(1, sizeof(*m));
    struct key none;

    m->name = tgh_strdup(name);
    m->help = tgh_strdup(help != NULL ? help : "");
    m->label_spec = tgh_strdup(labels);
    m->kind = kind;
    parse_labels(m, labels);
    TGH_ASSERT(nbounds <= TGH_METRIC_MAX_BOUNDS && (nbounds == 0 || bounds != NULL));
    for (size_t i = 0; i < nbounds; i++) {
        TGH_ASSERT(isfinite(bounds[i]) && (i == 0 || bounds[i] > bounds[i - 1]));
        m->bounds[i] = bounds[i];
    }
    m->nbounds = nbounds;
    pthread_mutex_init(&m->mu, NULL);
    m->nslots = 8;
    m->slots = tgh_calloc(m->nslots, sizeof(*m->slots));
    if (m->nlabels == 0) { /* its one series exists from the start and renders as 0 */
        key_make(&none, m, NULL);
        (void)series_at(m, &none);
    }
    return m;
}

static void
family_free(struct tgh_metric *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        if (m->slots[i] == NULL)
            continue;
        for (size_t j = 0; j < m->nlabels; j++)
            tgh_free(m->slots[i]->values[j]);
        tgh_free(m->slots[i]);
    }
    for (size_t i = 0; i < m->nlabels; i++)
        tgh_free(m->labels[i]);
    pthread_mutex_destroy(&m->mu);
    tgh_free(m->slots);
    tgh_free(m->name);
    tgh_free(m->help);
    tgh_free(m->label_spec);
    tgh_free(m);
}

static struct tgh_metric *
family_get(const char *name, const char *help, const char *labels, enum kind kind,
           const double *bounds, size_t nbounds)
{
    struct tgh_metric *m;
    size_t lo = 0, hi;

    TGH_ASSERT(name != NULL && is_valid_name(name, strlen(name), false));
    if (labels == NULL)
        labels = "";
    pthread_mutex_lock(&reg.mu);
    for (hi = reg.nfams; lo < hi;) { /* lo ends at the first name >= name */
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(reg.fams[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < reg.nfams && strcmp(reg.fams[lo]->name, name) == 0) {
        m = reg.fams[lo];
        pthread_mutex_unlock(&reg.mu);
        TGH_ASSERT(m->kind == kind && strcmp(m->label_spec, labels) == 0);
        TGH_ASSERT(is_same_bounds(m, bounds, nbounds));
        return m;
    }
    m = family_new(name, help, labels, kind, bounds, nbounds);
    if (reg.nfams == reg.cap) {
        reg.cap = reg.cap ? 2 * reg.cap : 32;
        reg.fams = tgh_realloc(reg.fams, reg.cap * sizeof(*reg.fams));
    }
    memmove(reg.fams + lo + 1, reg.fams + lo, (reg.nfams - lo) * sizeof(*reg.fams));
    reg.fams[lo] = m;
    reg.nfams++;
    pthread_mutex_unlock(&reg.mu);
    return m;
}

struct tgh_metric *
tgh_metric_counter(const char *name, const char *help, const char *labels)
{
    return family_get(name, help, labels, COUNTER, NULL, 0);
}

struct tgh_metric *
tgh_metric_gauge(const char *name, const char *help, const char *labels)
{
    return family_get(name, help, labels, GAUGE, NULL, 0);
}

struct tgh_metric *
tgh_metric_histogram(const char *name, const char *help, const char *labels, const double *bounds,
                     size_t nbounds)
{
    return family_get(name, help, labels, HISTOGRAM, bounds, nbounds);
}

static struct tgh_metric *
dropped_family(void)
{
    return tgh_metric_counter(DROPPED_NAME, DROPPED_HELP, "metric");
}

/* Called without m->mu: counting takes the registry lock and another family's lock. */
static void
count_drop(const struct tgh_metric *m, bool is_first)
{
    const char *values[] = { m->name };
    struct tgh_metric *dropped = dropped_family();

    if (is_first)
        log_warn("%s has %d series: updates that would add one are dropped", m->name,
                 TGH_METRIC_MAX_SERIES);
    if (dropped != m) /* it reaches its own cap only past 10,000 families */
        tgh_metric_inc(dropped, values);
}

static void
apply(const struct tgh_metric *m, struct series *s, enum op op, double v)
{
    size_t i = 0;

    switch (op) {
    case OP_ADD:
        s->value += v;
        break;
    case OP_SET:
        s->value = v;
        break;
    case OP_OBSERVE:
        while (i < m->nbounds && !(v <= m->bounds[i])) /* NaN is past every bound */
            i++;
        if (i < m->nbounds) /* past the last bound only +Inf counts it, and that is count */
            s->buckets[i]++;
        s->count++;
        s->value += v;
        break;
    }
}

static void
update(struct tgh_metric *m, const char *const *values, enum op op, double v)
{
    struct series *s;
    struct key k;
    bool is_first_drop = false;

    key_make(&k, m, values);
    pthread_mutex_lock(&m->mu);
    s = series_at(m, &k);
    if (s != NULL) {
        apply(m, s, op, v);
    } else {
        is_first_drop = !m->has_dropped;
        m->has_dropped = true;
    }
    pthread_mutex_unlock(&m->mu);
    if (s == NULL)
        count_drop(m, is_first_drop);
}

void
tgh_metric_add(struct tgh_metric *m, const char *const *values, double v)
{
    TGH_ASSERT(m->kind == GAUGE || (m->kind == COUNTER && v >= 0));
    update(m, values, OP_ADD, v);
}

void
tgh_metric_inc(struct tgh_metric *m, const char *const *values)
{
    tgh_metric_add(m, values, 1);
}

void
tgh_metric_set(struct tgh_metric *m, const char *const *values, double v)
{
    TGH_ASSERT(m->kind == GAUGE);
    update(m, values, OP_SET, v);
}

void
tgh_metric_observe(struct tgh_metric *m, const char *const *values, double v)
{
    TGH_ASSERT(m->kind == HISTOGRAM);
    update(m, values, OP_OBSERVE, v);
}

double
tgh_metric_value(struct tgh_metric *m, const char *const *values)
{
    struct series *s;
    struct key k;
    double v = 0;

    key_make(&k, m, values);
    pthread_mutex_lock(&m->mu);
    s = *slot_find(m->slots, m->nslots, m, &k);
    if (s != NULL)
        v = m->kind == HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&m->mu);
    return v;
}

static size_t
hook_find(tgh_metrics_collect_fn *fn, void *arg)
{
    size_t i = 0;

    while (i < reg.nhooks && (reg.hooks[i].fn != fn || reg.hooks[i].arg != arg))
        i++;
    return i;
}

void
tgh_metrics_on_collect(tgh_metrics_collect_fn *fn, void *arg)
{
    TGH_ASSERT(fn != NULL);
    pthread_mutex_lock(&reg.collect_mu);
    if (hook_find(fn, arg) == reg.nhooks) {
        TGH_ASSERT(reg.nhooks < MAX_HOOKS);
        reg.hooks[reg.nhooks++] = (struct hook){ fn, arg };
    }
    pthread_mutex_unlock(&reg.collect_mu);
}

void
tgh_metrics_off_collect(tgh_metrics_collect_fn *fn, void *arg)
{
    size_t i;

    pthread_mutex_lock(&reg.collect_mu);
    i = hook_find(fn, arg);
    if (i < reg.nhooks) {
        memmove(reg.hooks + i, reg.hooks + i + 1, (reg.nhooks - i - 1) * sizeof(reg.hooks[0]));
        reg.nhooks--;
    }
    pthread_mutex_unlock(&reg.collect_mu);
}

/* Rendered text; past TGH_METRICS_RENDER_MAX it stops growing and says so. */
struct text {
    char *p;
    size_t len, cap;
    bool is_too_big;
};

static void
put(struct text *t, const char *s, size_t n)
{
    if (t->is_too_big || n > TGH_METRICS_RENDER_MAX - t->len) {
        t->is_too_big = true;
        return;
    }
    if (t->len + n + 1 > t->cap) {
        while (t->len + n + 1 > t->cap)
            t->cap *= 2;
        t->p = tgh_realloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void
put_str(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* Backslash and newline escaped, and in label values the double quote too. */
static void
put_escaped(struct text *t, const char *s, bool is_label_value)
{
    while (*s != '\0') {
        size_t n = strcspn(s, is_label_value ? "\\\n\"" : "\\\n");

        put(t, s, n);
        s += n;
        if (*s == '\0')
            break;
        put_str(t, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"");
        s++;
    }
}

/*
 * v so that Prometheus reads back exactly v: integers (up to 2^53, where
 * doubles stop being exact) without exponent or decimals, other numbers in
 * the fewest digits that round-trip (0.1, not 0.10000000000000001).
 */
static const char *
format_number(double v, char buf[static 32])
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (v == 0)
        return "0"; /* and not "-0" */
    if (v == trunc(v) && fabs(v) <= 0x1p53) {
        (void)snprintf(buf, 32, "%.0f", v);
        return buf;
    }
    for (int digits = 15; digits <= 17; digits++) {
        (void)snprintf(buf, 32, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

static void
put_sample(struct text *t, const struct tgh_metric *m, const char *suffix, const struct series *s,
           const char *le, double v)
{
    char num[32];

    put_str(t, m->name);
    put_str(t, suffix);
    if (m->nlabels > 0 || le != NULL) {
        put_str(t, "{");
        for (size_t i = 0; i < m->nlabels; i++) {
            put_str(t, i > 0 ? "," : "");
            put_str(t, m->labels[i]);
            put_str(t, "=\"");
            put_escaped(t, s->values[i], true);
            put_str(t, "\"");
        }
        if (le != NULL) {
            put_str(t, m->nlabels > 0 ? ",le=\"" : "le=\"");
            put_str(t, le);
            put_str(t, "\"");
        }
        put_str(t, "}");
    }
    put_str(t, " ");
    put_str(t, format_number(v, num));
    put_str(t, "\n");
}

static void
put_series(struct text *t, const struct tgh_metric *m, const struct series *s)
{
    uint64_t cumulative = 0;
    char le[32];

    if (m->kind != HISTOGRAM) {
        put_sample(t, m, "", s, NULL, s->value);
        return;
    }
    for (size_t i = 0; i < m->nbounds; i++) {
        cumulative += s->buckets[i];
        put_sample(t, m, "_bucket", s, format_number(m->bounds[i], le), (double)cumulative);
    }
    put_sample(t, m, "_bucket", s, "+Inf", (double)s->count);
    put_sample(t, m, "_sum", s, NULL, s->value);
    put_sample(t, m, "_count", s, NULL, (double)s->count);
}

static int
series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;

    for (size_t i = 0; i < TGH_METRIC_MAX_LABELS && x->values[i] != NULL; i++) {
        int c = strcmp(x->values[i], y->values[i]);

        if (c != 0)
            return c;
    }
    return 0;
}

/* Under the family's lock: its updates wait while it is written. */
static void
put_family(struct text *t, struct tgh_metric *m)
{
    static const char *const kinds[] = {
        [COUNTER] = "counter", [GAUGE] = "gauge", [HISTOGRAM] = "histogram"
    };
    struct series **sorted;
    size_t n = 0;

    pthread_mutex_lock(&m->mu);
    put_str(t, "# HELP ");
    put_str(t, m->name);
    put_str(t, " ");
    put_escaped(t, m->help, false);
    put_str(t, "\n# TYPE ");
    put_str(t, m->name);
    put_str(t, " ");
    put_str(t, kinds[m->kind]);
    put_str(t, "\n");
    sorted = tgh_malloc(m->nseries * sizeof(*sorted));
    for (size_t i = 0; i < m->nslots; i++) {
        if (m->slots[i] != NULL)
            sorted[n++] = m->slots[i];
    }
    qsort(sorted, n, sizeof(*sorted), series_cmp);
    for (size_t i = 0; i < n; i++)
        put_series(t, m, sorted[i]);
    pthread_mutex_unlock(&m->mu);
    tgh_free(sorted);
}

tgh_err
tgh_metrics_render(char **out, size_t *len)
{
    struct text t = { .p = tgh_malloc(4096), .cap = 4096 };
    struct tgh_metric **fams;
    size_t n;

    t.p[0] = '\0';
    (void)dropped_family(); /* listed from the start, so that alerts on it can exist */
    pthread_mutex_lock(&reg.collect_mu);
    for (size_t i = 0; i < reg.nhooks; i++)
        reg.hooks[i].fn(reg.hooks[i].arg);
    pthread_mutex_unlock(&reg.collect_mu);

    pthread_mutex_lock(&reg.mu);
    n = reg.nfams;
    fams = tgh_malloc(n * sizeof(*fams));
    memcpy(fams, reg.fams, n * sizeof(*fams));
    pthread_mutex_unlock(&reg.mu);
    for (size_t i = 0; i < n; i++)
        put_family(&t, fams[i]);
    tgh_free(fams);

    if (t.is_too_big) {
        tgh_free(t.p);
        return tgh_errf(TGH_ETOOBIG, "metrics text over %u bytes", TGH_METRICS_RENDER_MAX);
    }
    *out = t.p;
    *len = t.len;
    return TGH_OK;
}

void
tgh_metrics_reset(void)
{
    pthread_mutex_lock(&reg.mu);
    for (size_t i = 0; i < reg.nfams; i++)
        family_free(reg.fams[i]);
    tgh_free(reg.fams);
    reg.fams = NULL;
    reg.nfams = 0;
    reg.cap = 0;
    pthread_mutex_unlock(&reg.mu);
    pthread_mutex_lock(&reg.collect_mu);
    reg.nhooks = 0;
    pthread_mutex_unlock(&reg.collect_mu);
}
