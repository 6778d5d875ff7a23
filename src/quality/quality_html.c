/* SPDX-License-Identifier: MIT */
/*
 * quality_html.c - the data-quality report as one HTML page: inline style,
 * inline SVG charts, no script and nothing fetched, so it opens offline and
 * can be mailed or archived as it is. Every text from the archive (titles,
 * usernames, kinds) is escaped.
 */
#include "quality/quality.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#define BAR_W 420 /* px of the longest bar */

static void
esc(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            (void)fputs("&amp;", f);
            break;
        case '<':
            (void)fputs("&lt;", f);
            break;
        case '>':
            (void)fputs("&gt;", f);
            break;
        case '"':
            (void)fputs("&quot;", f);
            break;
        case '\'':
            (void)fputs("&#39;", f);
            break;
        default:
            (void)fputc(*s, f);
        }
    }
}

static int64_t
num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void
utc(FILE *f, const json_t *v)
{
    time_t t = (time_t)json_integer_value(v);
    struct tm tm;
    char buf[32];

    if (!json_is_integer(v) || gmtime_r(&t, &tm) == NULL) {
        (void)fputs("&mdash;", f);
        return;
    }
    (void)strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
    (void)fputs(buf, f);
}

static void
chat_name(FILE *f, const json_t *c)
{
    const char *title = json_string_value(json_object_get(c, "title"));
    const char *user = json_string_value(json_object_get(c, "username"));

    if (title != NULL && *title != '\0')
        esc(f, title);
    else if (user != NULL && *user != '\0') {
        (void)fputc('@', f);
        esc(f, user);
    } else
        (void)fprintf(f, "%" PRId64, num(c, "chat_id"));
}

/* A horizontal bar chart: one bar per chat of the value at path (object, key). */
static void
bars(FILE *f, const json_t *chats, const char *obj, const char *key, const char *title,
     const char *color)
{
    size_t i, n = json_array_size(chats);
    int64_t max = 1;
    const json_t *c;

    json_array_foreach (chats, i, c) {
        const json_t *o = obj != NULL ? json_object_get(c, obj) : c;

        if (num(o, key) > max)
            max = num(o, key);
    }
    (void)fprintf(f, "<figure><figcaption>");
    esc(f, title);
    (void)fprintf(f,
                  "</figcaption><svg role=\"img\" width=\"%d\" height=\"%zu\" "
                  "viewBox=\"0 0 %d %zu\" xmlns=\"http://www.w3.org/2000/svg\">",
                  BAR_W + 320, n * 22 + 4, BAR_W + 320, n * 22 + 4);
    json_array_foreach (chats, i, c) {
        const json_t *o = obj != NULL ? json_object_get(c, obj) : c;
        int64_t v = num(o, key);
        int w = (int)(v * BAR_W / max);

        (void)fprintf(f, "<text x=\"0\" y=\"%zu\" font-size=\"12\">", i * 22 + 15);
        chat_name(f, c);
        (void)fprintf(f,
                      "</text><rect x=\"200\" y=\"%zu\" width=\"%d\" height=\"16\" fill=\"%s\"/>"
                      "<text x=\"%d\" y=\"%zu\" font-size=\"12\">%" PRId64 "</text>",
                      i * 22 + 3, w > 0 || v == 0 ? w : 1, color, 206 + w, i * 22 + 15, v);
    }
    (void)fputs("</svg></figure>\n", f);
}

/* One stacked bar: the missing ids by class over every chat. */
static void
gap_bar(FILE *f, const json_t *gaps)
{
    static const struct {
        const char *cls, *color;
    } parts[] = { { "deleted", "#c98a1b" },
                  { "missed", "#2f8f46" },
                  { "inaccessible", "#b3261e" },
                  { "unknown", "#8a8f98" } };
    int64_t sum = 0;
    int x = 0;

    for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++)
        sum += num(gaps, parts[i].cls);
    (void)fprintf(f,
                  "<figure><figcaption>Missing message ids by class (%" PRId64
                  ")</figcaption><svg role=\"img\" width=\"%d\" height=\"48\" viewBox=\"0 0 %d "
                  "48\" xmlns=\"http://www.w3.org/2000/svg\">",
                  sum, BAR_W + 320, BAR_W + 320);
    for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++) {
        int64_t v = num(gaps, parts[i].cls);
        int w = sum > 0 ? (int)(v * (BAR_W + 300) / sum) : 0;

        (void)fprintf(f, "<rect x=\"%d\" y=\"2\" width=\"%d\" height=\"20\" fill=\"%s\"/>", x, w,
                      parts[i].color);
        (void)fprintf(f,
                      "<rect x=\"%zu\" y=\"30\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                      "<text x=\"%zu\" y=\"39\" font-size=\"12\">%s %" PRId64 "</text>",
                      i * 180, parts[i].color, i * 180 + 14, parts[i].cls, v);
        x += w;
    }
    (void)fputs("</svg></figure>\n", f);
}

static void
card(FILE *f, const char *label, int64_t v, bool bad)
{
    (void)fprintf(f, "<div class=\"card%s\"><div class=\"v\">%" PRId64 "</div><div>",
                  bad ? " bad" : "", v);
    esc(f, label);
    (void)fputs("</div></div>", f);
}

static void
td_int(FILE *f, int64_t v, bool bad)
{
    (void)fprintf(f, "<td class=\"n%s\">%" PRId64 "</td>", bad && v > 0 ? " bad" : "", v);
}

tgh_err
quality_html(const json_t *r, FILE *f)
{
    const json_t *t = json_object_get(r, "totals"), *chats = json_object_get(r, "chats"), *c;
    const json_t *gaps = json_object_get(t, "gaps"), *dl = json_object_get(r, "dead_letters");
    size_t i;

    (void)fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>tgharvest data-quality report</title><style>"
                "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2129}"
                "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
                ".cards{display:flex;flex-wrap:wrap;gap:10px}"
                ".card{border:1px solid #d0d4da;border-radius:6px;padding:8px 12px;min-width:120px}"
                ".card .v{font-size:20px;font-weight:600}.bad{color:#b3261e}"
                "table{border-collapse:collapse;margin-top:8px}"
                "th,td{border-bottom:1px solid #e3e6ea;padding:4px 8px;text-align:left}"
                "td.n{text-align:right;font-variant-numeric:tabular-nums}"
                "figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}"
                ".muted{color:#6b7280}</style></head><body>\n",
                f);
    (void)fputs("<h1>Data-quality report</h1><p class=\"muted\">Generated ", f);
    utc(f, json_object_get(r, "generated_at"));
    (void)fputs(" &middot; runs, new messages and dead letters since ", f);
    utc(f, json_object_get(r, "since"));
    (void)fprintf(f,
                  " &middot; freshness SLO %" PRId64 " s</p>\n<div class=\"cards\" id=\"totals\">",
                  num(r, "freshness_slo_s"));
    card(f, "chats", num(t, "chats"), false);
    card(f, "messages", num(t, "messages"), false);
    card(f, "new since", num(t, "new_since"), false);
    card(f, "edited", num(t, "edited"), false);
    card(f, "deleted", num(t, "deleted"), false);
    card(f, "stale chats", num(t, "stale_chats"), num(t, "stale_chats") > 0);
    card(f, "ids deleted on Telegram", num(gaps, "deleted"), false);
    card(f, "ids missed, fetched", num(gaps, "missed"), num(gaps, "missed") > 0);
    card(f, "ids inaccessible", num(gaps, "inaccessible"), false);
    card(f, "ids not checked", num(gaps, "unknown"), num(gaps, "unknown") > 0);
    card(f, "same content twice", num(t, "same_content"), false);
    card(f, "replies to nothing", num(t, "dangling_replies"), num(t, "dangling_replies") > 0);
    card(f, "dates out of order", num(t, "out_of_order"), num(t, "out_of_order") > 0);
    card(f, "dates in the future", num(t, "future"), num(t, "future") > 0);
    card(f, "open dead letters", num(t, "dead_letters_open"), num(t, "dead_letters_open") > 0);
    {
        int64_t w = 0;
        const char *k;
        const json_t *v;

        json_object_foreach ((json_t *)json_object_get(t, "warnings"), k, v)
            w += json_integer_value(v);
        card(f, "repairs while reading", w, false);
    }
    card(f, "flood waits", num(t, "flood_waits"), false);
    (void)fputs("</div>\n<h2>Charts</h2>\n", f);
    gap_bar(f, gaps);
    bars(f, chats, NULL, "messages", "Messages per chat", "#3563c9");
    bars(f, chats, NULL, "new_since", "New messages per chat since the start of the window",
         "#2f8f46");
    (void)fputs("<h2>Chats</h2><table id=\"chats\"><thead><tr><th>chat</th><th>type</th>"
                "<th>messages</th><th>first</th><th>last</th><th>lag (s)</th><th>deleted ids</th>"
                "<th>missed ids</th><th>inaccessible</th><th>unknown</th><th>edited</th>"
                "<th>deleted</th><th>same content</th><th>replies to nothing</th>"
                "<th>threads to nothing</th><th>out of order</th><th>future</th>"
                "<th>runs failed</th><th>flood waits</th></tr></thead><tbody>\n",
                f);
    json_array_foreach (chats, i, c) {
        const json_t *g = json_object_get(c, "gaps"), *ref = json_object_get(c, "references");
        const json_t *ts = json_object_get(c, "timestamps"), *ru = json_object_get(c, "runs");
        const json_t *lag = json_object_get(c, "lag_s");

        (void)fprintf(f, "<tr data-chat=\"%" PRId64 "\"><td>", num(c, "chat_id"));
        chat_name(f, c);
        (void)fputs("</td><td>", f);
        esc(f, json_string_value(json_object_get(c, "type")));
        (void)fputs("</td>", f);
        td_int(f, num(c, "messages"), false);
        (void)fputs("<td>", f);
        utc(f, json_object_get(c, "first_date"));
        (void)fputs("</td><td>", f);
        utc(f, json_object_get(c, "last_date"));
        (void)fputs("</td>", f);
        if (json_is_integer(lag))
            (void)fprintf(f, "<td class=\"n%s\">%" PRId64 "</td>",
                          json_is_false(json_object_get(c, "fresh")) ? " bad" : "",
                          (int64_t)json_integer_value(lag));
        else
            (void)fputs("<td class=\"muted\">not tracked</td>", f);
        td_int(f, num(g, "deleted"), false);
        td_int(f, num(g, "missed"), true);
        td_int(f, num(g, "inaccessible"), false);
        td_int(f, num(g, "unknown"), true);
        td_int(f, num(c, "edited"), false);
        td_int(f, num(c, "deleted"), false);
        td_int(f, num(json_object_get(c, "duplicates"), "same_content"), false);
        td_int(f, num(ref, "dangling_replies"), true);
        td_int(f, num(ref, "dangling_threads"), true);
        td_int(f, num(ts, "out_of_order"), true);
        td_int(f, num(ts, "future"), true);
        td_int(f, num(ru, "failed"), true);
        td_int(f, num(ru, "flood_waits"), false);
        (void)fputs("</tr>\n", f);
    }
    (void)fputs("</tbody></table>\n<h2>Missing fields per kind</h2><table id=\"fields\"><thead>"
                "<tr><th>chat</th><th>kind</th><th>messages</th><th>no sender</th><th>no text</th>"
                "<th>no size</th><th>no file id</th></tr></thead><tbody>\n",
                f);
    json_array_foreach (chats, i, c) {
        const json_t *k;
        size_t j;

        json_array_foreach (json_object_get(c, "missing_fields"), j, k) {
            (void)fputs("<tr><td>", f);
            chat_name(f, c);
            (void)fputs("</td><td>", f);
            esc(f, json_string_value(json_object_get(k, "kind")));
            (void)fputs("</td>", f);
            td_int(f, num(k, "messages"), false);
            td_int(f, num(k, "no_sender"), false);
            td_int(f, num(k, "no_text"), false);
            td_int(f, num(k, "no_size"), false);
            td_int(f, num(k, "no_file_id"), false);
            (void)fputs("</tr>\n", f);
        }
    }
    (void)fputs("</tbody></table>\n<h2>Repairs while reading</h2><p class=\"muted\">Parts of "
                "messages the readers repaired or left out to keep the message (each stored "
                "with it as a warning).</p><table id=\"warnings\"><thead><tr><th>chat</th>"
                "<th>kind</th><th>messages</th></tr></thead><tbody>\n",
                f);
    json_array_foreach (chats, i, c) {
        const char *k;
        const json_t *v;

        json_object_foreach ((json_t *)json_object_get(c, "warnings"), k, v) {
            (void)fputs("<tr><td>", f);
            chat_name(f, c);
            (void)fputs("</td><td>", f);
            esc(f, k);
            (void)fputs("</td>", f);
            td_int(f, json_integer_value(v), false);
            (void)fputs("</tr>\n", f);
        }
    }
    (void)fprintf(f,
                  "</tbody></table>\n<h2>Dead letters</h2><p>%" PRId64 " open, %" PRId64
                  " new in the window.</p><table id=\"dead-letters\"><thead><tr><th>source</th>"
                  "<th>open</th></tr></thead><tbody>",
                  num(dl, "open"), num(dl, "since"));
    {
        const char *src;
        const json_t *v;

        json_object_foreach ((json_t *)json_object_get(dl, "by_source"), src, v) {
            (void)fputs("<tr><td>", f);
            esc(f, src);
            (void)fputs("</td>", f);
            td_int(f, json_integer_value(v), false);
            (void)fputs("</tr>", f);
        }
    }
    (void)fprintf(f,
                  "</tbody></table>\n<h2>Runs</h2><p>%" PRId64 " runs in the window, %" PRId64
                  " flood waits (%" PRId64 " s waited), %" PRId64
                  " events delivered again and found unchanged.</p>\n</body></html>\n",
                  num(t, "runs"), num(t, "flood_waits"), num(t, "flood_wait_seconds"),
                  num(t, "redelivered"));
    return ferror(f) ? tgh_errf(TGH_EIO, "the report could not be written") : TGH_OK;
}
