/*
 * cdr-writer — accounting: one record per call attempt, written when it
 * ends, from the cdr:attempt / cdr:start / cdr:stop events, as JSON lines
 * (default) or CSV (RFC 4180, with a header row in a new file).
 *
 * Fields: call_id, from, to, source, role, attempt_time, start_time,
 * stop_time, duration_s, final_status, reason, user, correlation.  A call
 * is known by its Call-ID from its attempt to its stop (both legs of a
 * B2BUA are two attempts, each with its own Call-ID, one correlation:
 * A's Call-ID).  Only calls are written: a stop for no call open here
 * (a BYE of a dialog never seen) writes nothing, nor does a challenge
 * (a 401/407 to an INVITE received: its retry, a new INVITE, is the
 * call, recorded as such).  The file is written by a thread
 * of its own (writer.c): the loop never waits on the disk.  At stop or
 * reload every record still open is written (reason "unfinished") and
 * the queue drained before the instance goes; SIGUSR1 ("server:reopen")
 * reopens the file for logrotate.
 *
 * Config:
 *   - module: cdr-writer
 *     file: /var/log/sipchain/cdr.jsonl    # required
 *     format: json                         # json | csv
 *     fsync: never                         # never | batch (fdatasync each batch)
 *     max_open: 131072                     # calls open at once; past it the oldest is
 *                                          # written (unfinished) and let go
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sipchain.h>

#include "writer.h"

typedef struct call {
    char          *call_id, *from, *to, *source, *role, *user, *corr;
    char           attempt_time[32], start_time[32];
    struct timespec started;
    bool           has_start;
    time_t         opened;          /* CLOCK_MONOTONIC, s */
    struct call   *next;            /* hash chain */
    struct call   *older, *newer;   /* by age: the oldest is let go first */
} call_t;

/* The calls open, by Call-ID: kept across reloads (sc_kept), shared by
 * the instances of every generation that holds it. */
typedef struct {
    call_t  **tab;
    size_t    cap, n;
    call_t   *oldest, *newest;
    unsigned  holders;      /* instances holding it: the last writes what is open */
} book_t;

/* A call whose end never comes here (proxied without record_route, a
 * peer that vanished) would be open for ever, and reloads no longer
 * write the table out: as the core stops following calls past these
 * (cdr.c), so are they let go here (the oldest first, past max_open or
 * MAX_AGE_S), written as they stand. */
#define MAX_OPEN  131072
#define MAX_AGE_S (24 * 3600)

typedef struct {
    writer_t     *w;
    bool          csv;
    unsigned long max_open;
    book_t       *book;
} cdrw_t;

static const char *const FIELDS[] = { "call_id", "from", "to", "source", "role", "attempt_time",
                                      "start_time", "stop_time", "duration_s", "final_status",
                                      "reason", "user", "correlation" };
#define NFIELDS 13

static size_t slot(const book_t *c, sc_str_t id)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < id.len; i++)
        h = (h ^ (unsigned char)id.s[i]) * 1099511628211ull;
    return (size_t)(h & (c->cap - 1));
}

static char *dup_str(sc_str_t v) { return strndup(v.s ? v.s : "", v.len); }

static call_t **find(book_t *c, sc_str_t id)
{
    call_t **pp = &c->tab[slot(c, id)];
    while (*pp && !(strlen((*pp)->call_id) == id.len && memcmp((*pp)->call_id, id.s, id.len) == 0))
        pp = &(*pp)->next;
    return pp;
}

/* Takes k out of the table (not freed). */
static void book_remove(book_t *bk, call_t *k)
{
    call_t **pp = find(bk, (sc_str_t){ k->call_id, strlen(k->call_id) });
    if (*pp != k)
        return;
    *pp = k->next;
    bk->n--;
    if (k->older)
        k->older->newer = k->newer;
    else
        bk->oldest = k->newer;
    if (k->newer)
        k->newer->older = k->older;
    else
        bk->newest = k->older;
}

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void call_free(call_t *k)
{
    free(k->call_id);
    free(k->from);
    free(k->to);
    free(k->source);
    free(k->role);
    free(k->user);
    free(k->corr);
    free(k);
}

static void *book_make(void *arg)
{
    (void)arg;
    book_t *bk = calloc(1, sizeof(*bk));
    if (bk && (bk->tab = calloc(bk->cap = 256, sizeof(*bk->tab))) == NULL) {
        free(bk);
        return NULL;
    }
    return bk;
}

/* The last holder wrote what was open (cw_destroy) and emptied it. */
static void book_drop(void *obj)
{
    book_t *bk = obj;
    for (size_t i = 0; i < bk->cap; i++)
        for (call_t *k = bk->tab[i], *n; k; k = n) {
            n = k->next;
            call_free(k);
        }
    free(bk->tab);
    free(bk);
}

static void grow(book_t *c)
{
    size_t cap = c->cap * 2;
    call_t **tab = calloc(cap, sizeof(*tab));
    if (tab == NULL)
        return;
    call_t **old = c->tab;
    size_t ocap = c->cap;
    c->tab = tab;
    c->cap = cap;
    for (size_t i = 0; i < ocap; i++)
        for (call_t *k = old[i], *n; k; k = n) {
            n = k->next;
            call_t **pp = &c->tab[slot(c, (sc_str_t){ k->call_id, strlen(k->call_id) })];
            k->next = *pp;
            *pp = k;
        }
    free(old);
}

/* --- formatting ------------------------------------------------------------ */

typedef struct {
    char  *s;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 256) * 2 + n;
        char *p = realloc(b->s, cap);
        if (p == NULL)
            return;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void put_json(buf_t *b, const char *v)
{
    if (v == NULL) {
        put(b, "null", 4);
        return;
    }
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20)
            put(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p));
        else
            put(b, (const char *)p, 1);
    }
    put(b, "\"", 1);
}

static void put_csv(buf_t *b, const char *v)
{
    if (v == NULL)
        return;
    if (strpbrk(v, ",\"\r\n") == NULL) {
        put(b, v, strlen(v));
        return;
    }
    put(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        put(b, p, 1);
        if (*p == '"')
            put(b, "\"", 1);       /* a quote is doubled */
    }
    put(b, "\"", 1);
}

static void write_record(cdrw_t *c, const call_t *k, const char *stop_time, double duration,
                         unsigned status, const char *reason, const char *user)
{
    char dur[32], st[16];
    snprintf(dur, sizeof(dur), "%.3f", duration);
    snprintf(st, sizeof(st), "%u", status);
    const char *v[NFIELDS] = { k->call_id, k->from, k->to, k->source, k->role, k->attempt_time[0] ? k->attempt_time : NULL,
                               k->has_start ? k->start_time : NULL, stop_time, dur, st, reason,
                               user ? user : k->user, k->corr ? k->corr : k->call_id };
    buf_t b = { 0 };
    for (int i = 0; i < NFIELDS; i++) {
        if (c->csv) {
            if (i)
                put(&b, ",", 1);
            put_csv(&b, v[i]);
        } else {
            put(&b, i ? ",\"" : "{\"", 2);
            put(&b, FIELDS[i], strlen(FIELDS[i]));
            put(&b, "\":", 2);
            if (i == 8 || i == 9)       /* numbers */
                put(&b, v[i], strlen(v[i]));
            else
                put_json(&b, v[i]);
        }
    }
    put(&b, c->csv ? "\n" : "}\n", c->csv ? 1 : 2);
    if (b.s)
        writer_put(c->w, b.s, b.len);
    free(b.s);
}

/* --- events ------------------------------------------------------------------ */

/* Seconds from k's answer to now (0 when it was never answered). */
static double since_start(const call_t *k, const struct timespec *now)
{
    if (!k->has_start)
        return 0;
    return (double)(now->tv_sec - k->started.tv_sec) + (double)(now->tv_nsec - k->started.tv_nsec) / 1e9;
}

/* A record as it stands: "unfinished", with the answer's status and the
 * time so far. */
static void write_unfinished(cdrw_t *c, const call_t *k)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    char when[40];
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", now.tv_nsec / 1000000);
    write_record(c, k, when, since_start(k, &now), k->has_start ? 200 : 0, "unfinished", NULL);
}

/* The oldest calls past MAX_OPEN or MAX_AGE_S, written and let go. */
static void let_go_stale(cdrw_t *c)
{
    book_t *bk = c->book;
    time_t now = mono_s();
    for (call_t *k; (k = bk->oldest) != NULL && (bk->n >= c->max_open || now - k->opened > MAX_AGE_S);) {
        write_unfinished(c, k);
        book_remove(bk, k);
        call_free(k);
    }
}

static void on_cdr(const char *event, const void *data, void *arg)
{
    cdrw_t *c = arg;
    book_t *bk = c->book;
    const sc_cdr_t *e = data;
    call_t **pp = find(bk, e->call_id), *k = *pp;
    bool stop = strcmp(event, "cdr:stop") == 0;
    if (k == NULL && stop)
        return;                         /* no call of ours */
    if (k == NULL) {                    /* its first event (attempt, or a start seen alone) */
        let_go_stale(c);
        pp = find(bk, e->call_id);
        if ((k = calloc(1, sizeof(*k))) == NULL)
            return;
        k->call_id = dup_str(e->call_id);
        k->from = dup_str(e->from);
        k->to = dup_str(e->to);
        k->source = strdup(e->source ? e->source : "");
        *pp = k;
        k->opened = mono_s();
        k->older = bk->newest;
        if (bk->newest)
            bk->newest->newer = k;
        else
            bk->oldest = k;
        bk->newest = k;
        if (++bk->n > bk->cap)
            grow(bk);
        pp = find(bk, e->call_id);
    }
    if (e->user && k->user == NULL)
        k->user = strdup(e->user);
    if (e->call_role && (k->role == NULL || strcmp(k->role, e->call_role) != 0)) {
        free(k->role);
        k->role = strdup(e->call_role);
    }
    if (e->correlation.len && k->corr == NULL)
        k->corr = dup_str(e->correlation);
    if (strcmp(event, "cdr:attempt") == 0) {
        snprintf(k->attempt_time, sizeof(k->attempt_time), "%s", e->time);
    } else if (strcmp(event, "cdr:start") == 0) {
        snprintf(k->start_time, sizeof(k->start_time), "%s", e->time);
        clock_gettime(CLOCK_REALTIME, &k->started);
        k->has_start = true;
        if (k->role == NULL && e->role)
            k->role = strdup(e->role);
    } else if (stop && e->challenge) {  /* not a call: the retry will be */
        book_remove(bk, k);
        call_free(k);
    } else if (stop) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        /* a call that connected ended with its 2xx status; one that did
         * not, with the failure */
        unsigned status = k->has_start && e->status < 300 ? 200 : e->status;
        write_record(c, k, e->time, since_start(k, &now), status, e->reason, e->user);
        book_remove(bk, k);
        call_free(k);
    }
}

static void on_reopen(const char *event, const void *data, void *arg)
{
    cdrw_t *c = arg;
    (void)event;
    (void)data;
    writer_reopen(c->w);
}

static int cw_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "file", "format", "fsync", "max_open", NULL };
    cdrw_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    sc_instance_set_data(inst, c);
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    const sc_conf_node_t *n;
    const char *file, *v;
    if ((n = sc_conf_get(conf, "file")) == NULL)
        return sc_conf_error(err, errlen, conf, "cdr-writer needs \"file\"");
    if (sc_conf_string(n, &file, err, errlen))
        return -1;
    const sc_conf_node_t *fn = n;
    if ((n = sc_conf_get(conf, "format"))) {
        if (sc_conf_string(n, &v, err, errlen))
            return -1;
        if (strcmp(v, "json") && strcmp(v, "csv"))
            return sc_conf_error(err, errlen, n, "format is json or csv, not \"%s\"", v);
        c->csv = strcmp(v, "csv") == 0;
    }
    fsync_policy_t policy = FSYNC_NEVER;
    if ((n = sc_conf_get(conf, "fsync"))) {
        if (sc_conf_string(n, &v, err, errlen))
            return -1;
        if (strcmp(v, "never") && strcmp(v, "batch"))
            return sc_conf_error(err, errlen, n, "fsync is never or batch, not \"%s\"", v);
        policy = strcmp(v, "batch") == 0 ? FSYNC_BATCH : FSYNC_NEVER;
    }
    c->max_open = MAX_OPEN;
    if ((n = sc_conf_get(conf, "max_open")) && sc_conf_uint(n, MAX_OPEN, &c->max_open, err, errlen))
        return -1;
    if (c->max_open == 0)
        return sc_conf_error(err, errlen, n, "max_open must be at least 1");
    char head[256];
    size_t len = 0;
    for (int i = 0; i < NFIELDS; i++)
        len += (size_t)snprintf(head + len, sizeof(head) - len, "%s%s", i ? "," : "", FIELDS[i]);
    snprintf(head + len, sizeof(head) - len, "\n");
    char why[1200];
    if (sc_instance_checking(inst)) {
        /* sipchain -t: no file made, no writer thread started */
        if (sc_check_writable(file, why, sizeof(why)) != 0)
            return sc_conf_error(err, errlen, fn, "%s", why);
    } else if ((c->w = writer_open(file, policy, c->csv ? head : NULL)) == NULL)
        return sc_conf_error(err, errlen, fn, "cannot open %s for appending", file);
    if ((c->book = sc_kept(inst, "calls", book_make, book_drop, NULL)) == NULL)
        return -1;
    c->book->holders++;
    return 0;
}

static int cw_start(sc_instance_t *inst)
{
    cdrw_t *c = sc_instance_data(inst);
    static const char *const evs[] = { "cdr:attempt", "cdr:start", "cdr:stop" };
    for (int i = 0; i < 3; i++)
        if (sc_event_subscribe(inst, evs[i], on_cdr, c) != 0)
            return -1;
    return sc_event_subscribe(inst, "server:reopen", on_reopen, c);
}

static void cw_destroy(sc_instance_t *inst)
{
    cdrw_t *c = sc_instance_data(inst);
    if (c == NULL)
        return;
    if (c->book) {
        /* nothing is lost: the last to hold the open records writes them */
        if (--c->book->holders == 0 && c->w)
            for (call_t *k; (k = c->book->oldest) != NULL;) {
                write_unfinished(c, k);
                book_remove(c->book, k);
                call_free(k);
            }
        sc_kept_release(inst, "calls", c->book, book_drop);
    }
    writer_close(c->w);
    free(c);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "cdr-writer",
    .version = "1.0",
    .create = cw_create,
    .start = cw_start,
    .destroy = cw_destroy,
};
