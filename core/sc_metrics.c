/* sc_metrics.c — see sc_metrics.h. */
#include "sc_metrics.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds (seconds) of the histogram buckets: what a handler on the
 * event loop takes, from a hash lookup to a slow disk. */
static const double BOUNDS[] = { 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                 0.0025, 0.005, 0.01, 0.05, 0.25 };
#define NBOUNDS (sizeof(BOUNDS) / sizeof(BOUNDS[0]))

typedef struct family family_t;

/* A series, or an instance's view of one (sc_metric_view): what a link
 * updates through.  A view forwards its updates to its series (of) and
 * keeps the last value it set, so that a gauge speaks for the newest
 * instance holding it (a reload's new generation) and falls back to the
 * older's last word when the newest goes (a reload that failed). */
struct sc_metric {
    family_t         *fam;
    char             *labels;       /* exposition text between the braces, "" for none */
    int64_t           value;        /* counter, gauge; a view: its last sc_metric_set */
    uint64_t          bucket[NBOUNDS];
    uint64_t          count;
    double            sum;
    struct sc_metric *next;         /* a series: in its family; a view: its holder's list */
    /* a series */
    bool              pinned;       /* asked for without an instance: stays to the end */
    struct sc_metric *views;        /* the views of it, newest first */
    /* a view */
    struct sc_metric *of;
    struct sc_metric *vnext;        /* in its series' views */
    bool              has_set;
};

struct family {
    char             *name, *help;
    sc_metric_type_t  type;
    unsigned          n;
    sc_metric_t      *series, **tail;
    sc_metric_t      *other;        /* past SC_METRIC_MAX_SERIES */
    family_t         *next;
};

static family_t *families, **ftail = &families;
static unsigned generation;

unsigned sc_metrics_generation(void) { return generation; }

static family_t *family(sc_metric_type_t type, const char *name, const char *help)
{
    for (family_t *f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f->type == type ? f : NULL;     /* one name, one type */
    family_t *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->name = strdup(name)) == NULL || (f->help = strdup(help ? help : "")) == NULL) {
        if (f)
            free(f->name);
        free(f);
        return NULL;
    }
    f->type = type;
    f->tail = &f->series;
    *ftail = f;
    ftail = &f->next;
    return f;
}

static sc_metric_t *series_new(family_t *f, const char *labels)
{
    sc_metric_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->labels = strdup(labels)) == NULL) {
        free(m);
        return NULL;
    }
    m->fam = f;
    return m;
}

static sc_metric_t *series(sc_metric_type_t type, const char *name, const char *help,
                           const char *labels, bool pin)
{
    family_t *f = family(type, name, help);
    if (f == NULL)
        return NULL;
    labels = labels ? labels : "";
    for (sc_metric_t *m = f->series; m; m = m->next)
        if (strcmp(m->labels, labels) == 0) {
            m->pinned |= pin;
            return m;
        }
    if (f->n >= SC_METRIC_MAX_SERIES) {
        if (f->other == NULL && (f->other = series_new(f, "other=\"true\"")) != NULL)
            f->other->pinned = true;
        return f->other;
    }
    sc_metric_t *m = series_new(f, labels);
    if (m) {
        m->pinned = pin;
        *f->tail = m;
        f->tail = &m->next;
        f->n++;
    }
    return m;
}

sc_metric_t *sc_metric_counter(const char *name, const char *help, const char *labels)
{
    return series(SC_METRIC_COUNTER, name, help, labels, true);
}

sc_metric_t *sc_metric_gauge(const char *name, const char *help, const char *labels)
{
    return series(SC_METRIC_GAUGE, name, help, labels, true);
}

sc_metric_t *sc_metric_histogram(const char *name, const char *help, const char *labels)
{
    return series(SC_METRIC_HISTOGRAM, name, help, labels, true);
}

/* key="value" with \, " and newline escaped; false when it did not fit */
static bool put_label(char *out, size_t cap, size_t *at, const char *key, const char *value)
{
    size_t n = *at;
    int k = snprintf(out + n, cap - n, "%s%s=\"", n ? "," : "", key);
    if (k < 0 || (size_t)k >= cap - n)
        return false;
    n += (size_t)k;
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t len = esc ? 2 : 1;
        if (n + len + 2 > cap)
            return false;
        memcpy(out + n, esc ? esc : p, len);
        n += len;
    }
    out[n++] = '"';
    out[n] = '\0';
    *at = n;
    return true;
}

sc_metric_t *sc_metric_kv(sc_metric_type_t type, const char *name, const char *help,
                          const char *key1, const char *value1, const char *key2,
                          const char *value2)
{
    char labels[512] = "";
    size_t n = 0;
    if ((key1 && !put_label(labels, sizeof(labels), &n, key1, value1)) ||
        (key2 && !put_label(labels, sizeof(labels), &n, key2, value2)))
        return NULL;
    return series(type, name, help, labels, true);
}

sc_metric_t *sc_metric_view(sc_metric_type_t type, const char *name, const char *help,
                            const char *labels, const char *link, sc_metric_t **held)
{
    char all[512] = "";
    size_t n = 0;
    if (labels && labels[0]) {
        /* "link" is the framework's: a module's own would make two */
        if (strncmp(labels, "link=", 5) == 0 || strstr(labels, ",link=") ||
            (n = (size_t)snprintf(all, sizeof(all), "%s", labels)) >= sizeof(all))
            return NULL;
    }
    if (!put_label(all, sizeof(all), &n, "link", link))
        return NULL;
    sc_metric_t *s = series(type, name, help, all, false);
    if (s == NULL)
        return NULL;
    for (sc_metric_t *v = *held; v; v = v->next)
        if (v->of == s)
            return v;               /* asked again: the same view */
    sc_metric_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->fam = s->fam;
    v->of = s;
    v->vnext = s->views;            /* the newest */
    s->views = v;
    v->next = *held;
    *held = v;
    return v;
}

static void series_free(sc_metric_t *m);

static void series_remove(sc_metric_t *s)
{
    family_t *f = s->fam;
    sc_metric_t **p = &f->series, *prev = NULL;
    while (*p && *p != s)
        prev = *p, p = &(*p)->next;
    if (*p == NULL)
        return;                     /* the "other" series: stays */
    *p = s->next;
    if (f->tail == &s->next)
        f->tail = prev ? &prev->next : &f->series;
    f->n--;
    series_free(s);
}

void sc_metric_release(sc_metric_t **held)
{
    while (*held) {
        sc_metric_t *v = *held, *s = v->of;
        *held = v->next;
        if (s == NULL) {            /* the registry went first (sc_metrics_free) */
            free(v);
            continue;
        }
        sc_metric_t **p = &s->views;
        while (*p != v)
            p = &(*p)->vnext;
        bool newest = p == &s->views;
        *p = v->vnext;
        free(v);
        if (s->fam->type != SC_METRIC_GAUGE)
            continue;               /* totals stay: a link back counts on */
        if (newest && s->views && s->views->has_set)
            s->value = s->views->value;     /* the older instance speaks again */
        else if (s->views == NULL && !s->pinned)
            series_remove(s);       /* nothing left to say "now" for it */
    }
}

void sc_metric_add(sc_metric_t *m, int64_t n)
{
    if (m == NULL)
        return;
    if (m->of) {                    /* a contribution: whichever instance */
        m->value += n;
        m = m->of;
    }
    m->value += n;
}

void sc_metric_set(sc_metric_t *m, int64_t v)
{
    if (m == NULL)
        return;
    if (m->of) {
        m->value = v;
        m->has_set = true;
        if (m->of->views != m)
            return;                 /* a newer instance of its link speaks for it */
        m = m->of;
    }
    m->value = v;
}

void sc_metric_observe(sc_metric_t *m, double seconds)
{
    if (m == NULL)
        return;
    if (m->of)
        m = m->of;
    for (size_t i = 0; i < NBOUNDS; i++)
        if (seconds <= BOUNDS[i]) {
            m->bucket[i]++;         /* cumulated when rendered */
            break;
        }
    m->count++;
    m->sum += seconds;
}

static void render_series(FILE *f, const family_t *fam, const sc_metric_t *m)
{
    const char *sep = m->labels[0] ? "," : "";
    if (fam->type != SC_METRIC_HISTOGRAM) {
        if (m->labels[0])
            fprintf(f, "%s{%s} %lld\n", fam->name, m->labels, (long long)m->value);
        else
            fprintf(f, "%s %lld\n", fam->name, (long long)m->value);
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += m->bucket[i];
        fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", fam->name, m->labels, sep, BOUNDS[i],
                (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", fam->name, m->labels, sep,
            (unsigned long long)m->count);
    const char *open = m->labels[0] ? "{" : "", *close = m->labels[0] ? "}" : "";
    fprintf(f, "%s_sum%s%s%s %.9f\n", fam->name, open, m->labels, close, m->sum);
    fprintf(f, "%s_count%s%s%s %llu\n", fam->name, open, m->labels, close,
            (unsigned long long)m->count);
}

char *sc_metrics_render(size_t *len)
{
    static const char *const TYPE[] = { "counter", "gauge", "histogram" };
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    for (const family_t *fam = families; fam; fam = fam->next) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, TYPE[fam->type]);
        for (const sc_metric_t *m = fam->series; m; m = m->next)
            render_series(f, fam, m);
        if (fam->other)
            render_series(f, fam, fam->other);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The exposition text of labels (k="v",...) as a JSON object: the
 * values unescaped from Prometheus's \\ \" \n, escaped for JSON. */
static void json_labels(FILE *f, const char *l)
{
    fputc('{', f);
    for (bool first = true; *l;) {
        const char *eq = strchr(l, '=');
        if (eq == NULL || eq[1] != '"')
            break;
        fprintf(f, "%s\"%.*s\":\"", first ? "" : ",", (int)(eq - l), l);
        first = false;
        for (l = eq + 2; *l && *l != '"'; l++) {
            char c = *l;
            if (c == '\\' && l[1])
                c = *++l == 'n' ? '\n' : *l;
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if ((unsigned char)c < 0x20)
                fprintf(f, "\\u%04x", (unsigned char)c);
            else
                fputc(c, f);
        }
        fputc('"', f);
        if (*l == '"')
            l++;
        if (*l == ',')
            l++;
    }
    fputc('}', f);
}

static void json_series(FILE *f, const family_t *fam, const sc_metric_t *m, bool first)
{
    fputs(first ? "{\"labels\":" : ",{\"labels\":", f);
    json_labels(f, m->labels);
    if (fam->type == SC_METRIC_HISTOGRAM)
        fprintf(f, ",\"count\":%llu,\"sum\":%.9f}", (unsigned long long)m->count, m->sum);
    else
        fprintf(f, ",\"value\":%lld}", (long long)m->value);
}

void sc_metrics_render_json(FILE *f)
{
    static const char *const TYPE[] = { "counter", "gauge", "histogram" };
    fputc('{', f);
    for (const family_t *fam = families; fam; fam = fam->next) {
        fprintf(f, "%s\"%s\":{\"type\":\"%s\",\"series\":[", fam == families ? "" : ",", fam->name,
                TYPE[fam->type]);
        for (const sc_metric_t *m = fam->series; m; m = m->next)
            json_series(f, fam, m, m == fam->series);
        if (fam->other)
            json_series(f, fam, fam->other, fam->series == NULL);
        fputs("]}", f);
    }
    fputc('}', f);
}

static void series_free(sc_metric_t *m)
{
    if (m) {
        for (sc_metric_t *v = m->views; v; v = v->vnext)
            v->of = NULL;           /* sc_metrics_free at exit: nothing updates any more */
        free(m->labels);
        free(m);
    }
}

void sc_metrics_free(void)
{
    while (families) {
        family_t *f = families;
        families = f->next;
        for (sc_metric_t *m = f->series, *next; m; m = next) {
            next = m->next;
            series_free(m);
        }
        series_free(f->other);
        free(f->name);
        free(f->help);
        free(f);
    }
    ftail = &families;
    generation++;
}
