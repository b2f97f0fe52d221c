/*
 * cdr.c — the cdr:attempt / cdr:start / cdr:stop events (drachtio's
 * CDRs), built from the message that caused them and emitted on the
 * chain whose module (or whose request) the call belongs to.
 *
 * Every call is followed here from its attempt to its stop, by Call-ID:
 * its caller's tag, the callee's once answered, what it is to us (its
 * role) and the key its records share (a B2BUA's B leg: A's Call-ID).  So
 * a stop comes only for a call that was attempted: a BYE proxied for a
 * dialog we never saw (or with tags other than the call's) ends nothing,
 * and a 401/407 to a call received is marked as a challenge (the retry,
 * a new INVITE, is the call).
 *
 * A call whose end never passes here (a proxy that does not record-route,
 * a peer that vanished) would be followed for ever: the oldest calls are
 * let go past MAX_CALLS followed, or after MAX_AGE_S (their stop, should
 * it come, is then not emitted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "chain_impl.h"

#define MAX_CALLS 131072
#define MAX_AGE_S (24 * 3600)

typedef struct call {
    struct call *next;
    struct call *older, *newer; /* by age: the oldest is let go first */
    time_t       since;         /* when first seen (CLOCK_MONOTONIC) */
    char        *id, *corr;     /* corr: NULL for the call's own Call-ID */
    char        *tag_a, *tag_b; /* the caller's (From of the INVITE); the callee's, once answered */
    const char  *role;          /* NULL until known */
    unsigned     open;          /* attempts not stopped yet (a spiral: more than one) */
} call_t;

static call_t **tab;
static size_t cap, ncalls;
static call_t *oldest, *newest;

static size_t slot(sc_str_t id, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < id.len; i++)
        h = (h ^ (unsigned char)id.s[i]) * 1099511628211ull;
    return (size_t)(h & (n - 1));
}

static bool same(const char *s, sc_str_t v) { return s && strlen(s) == v.len && memcmp(s, v.s, v.len) == 0; }

static call_t **find(sc_str_t id)
{
    if (tab == NULL)
        return NULL;
    call_t **pp = &tab[slot(id, cap)];
    while (*pp && !same((*pp)->id, id))
        pp = &(*pp)->next;
    return pp;
}

static call_t *lookup(sc_str_t id)
{
    call_t **pp = id.len ? find(id) : NULL;
    return pp ? *pp : NULL;
}

static void grow(void)
{
    size_t ncap = cap ? cap * 2 : 256;
    call_t **nt = calloc(ncap, sizeof(*nt));
    if (nt == NULL)
        return;
    for (size_t i = 0; i < cap; i++)
        for (call_t *k = tab[i], *n; k; k = n) {
            n = k->next;
            call_t **pp = &nt[slot(sc_str_cstr(k->id), ncap)];
            k->next = *pp;
            *pp = k;
        }
    free(tab);
    tab = nt;
    cap = ncap;
}

static char *dup_str(sc_str_t v) { return strndup(v.s ? v.s : "", v.len); }

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void drop(call_t *k);

static call_t *add(sc_str_t id)
{
    time_t now = now_s();
    while (oldest && (ncalls >= MAX_CALLS || now - oldest->since > MAX_AGE_S))
        drop(oldest);
    if (ncalls + 1 > cap)
        grow();
    call_t **pp = find(id), *k;
    if (pp == NULL || (k = calloc(1, sizeof(*k))) == NULL)
        return NULL;
    if ((k->id = dup_str(id)) == NULL) {
        free(k);
        return NULL;
    }
    *pp = k;
    ncalls++;
    k->since = now;
    k->older = newest;
    if (newest)
        newest->newer = k;
    else
        oldest = k;
    newest = k;
    return k;
}

static void drop(call_t *k)
{
    call_t **pp = find(sc_str_cstr(k->id));
    if (pp == NULL || *pp != k)
        return;
    *pp = k->next;
    ncalls--;
    if (k->older)
        k->older->newer = k->newer;
    else
        oldest = k->newer;
    if (k->newer)
        k->newer->older = k->older;
    else
        newest = k->older;
    free(k->id);
    free(k->corr);
    free(k->tag_a);
    free(k->tag_b);
    free(k);
}

static sc_str_t tag_of(const sc_addr_t *a) { return a ? a->tag : SC_STR_NULL; }

/* An in-dialog request of the call's dialog: its two tags are the
 * caller's and the callee's, either way round (either side hangs up). */
static bool in_dialog(const call_t *k, const sc_msg_t *m)
{
    sc_str_t f = tag_of(m->from), t = tag_of(m->to);
    if (k->tag_b == NULL)
        return false;           /* not answered: no dialog to end with a BYE */
    return (same(k->tag_a, f) && same(k->tag_b, t)) || (same(k->tag_a, t) && same(k->tag_b, f));
}

void sc_cdr_leg(sc_str_t b_call_id, sc_str_t a_call_id)
{
    call_t *a = lookup(a_call_id);
    if (a)
        a->role = "b2bua-uas";
    if (b_call_id.len == 0)
        return;
    call_t *b = lookup(b_call_id);
    if (b == NULL && (b = add(b_call_id)) == NULL)
        return;
    b->role = "b2bua-uac";
    free(b->corr);
    b->corr = dup_str(a_call_id);
}

void sc_cdr_emit(const sc_chain_t *c, const char *event, const char *source, const char *role,
                 const char *reason, unsigned status, const sc_msg_t *m, const char *user)
{
    bool attempt = strcmp(event, "cdr:attempt") == 0, start = strcmp(event, "cdr:start") == 0;
    call_t *k = m ? lookup(m->call_id) : NULL;
    if (attempt && m) {
        if (k == NULL && (k = add(m->call_id)) == NULL)
            return;
        if (k->tag_a == NULL)
            k->tag_a = dup_str(tag_of(m->from));
        k->open++;
    } else if (start && m) {
        if (k == NULL && (k = add(m->call_id)) != NULL) {   /* not seen attempted: followed now */
            k->tag_a = dup_str(tag_of(m->from));
            k->open = 1;
        }
        if (k && k->tag_b == NULL)
            k->tag_b = dup_str(tag_of(m->to));
    } else if (m && k == NULL) {
        return;                 /* a stop for no call we follow */
    } else if (m && m->is_request && m->method != SC_METHOD_INVITE && !in_dialog(k, m)) {
        return;                 /* a BYE with other tags: not this call's dialog */
    }
    if (k && k->role == NULL)
        k->role = role;

    struct timeval tv;
    struct tm tm;
    char when[32];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    sc_cdr_t cdr = { .source = source, .time = when, .role = start ? role : NULL, .reason = reason,
                     .status = status, .user = user, .call_role = k && k->role ? k->role : role };
    if (m) {            /* NULL: a call that ended before any message went */
        cdr.msg = m->buf ? sc_str(m->buf, m->len) : sc_msg_serialize(m);
        cdr.call_id = m->call_id;
        cdr.correlation = k && k->corr ? sc_str_cstr(k->corr) : m->call_id;
        cdr.from = m->hdr[SC_HDR_FROM] ? m->hdr[SC_HDR_FROM]->value : SC_STR_NULL;
        cdr.to = m->hdr[SC_HDR_TO] ? m->hdr[SC_HDR_TO]->value : SC_STR_NULL;
    }
    bool stop = !attempt && !start;
    /* a 401/407 to an INVITE received is a challenge: the call, if any,
     * is its retry (a module's own INVITE retries by itself, or fails) */
    cdr.challenge = stop && (status == 401 || status == 407) && cdr.call_role &&
                    strcmp(cdr.call_role, "uac") != 0 && strcmp(cdr.call_role, "b2bua-uac") != 0;
    if (stop && !cdr.challenge)
        sc_metric_add(sc_metric_kv(SC_METRIC_COUNTER, "sipchain_calls_total",
                                   "call attempts ended, by CDR outcome (a B2BUA call is two)",
                                   "reason", reason ? reason : "unknown", NULL, NULL),
                      1);
    sc_chain_emit(c, event, &cdr);
    if (stop && k && --k->open == 0)
        drop(k);
}
