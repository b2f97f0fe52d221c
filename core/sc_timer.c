/* sc_timer.c — see sc_timer.h. */
#include "sc_timer.h"

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#define COMMON_MAX 16

struct sc_clock {
    struct event_base *base;        /* NULL: manual */
    /* event clock: durations seen so far and their common timeouts */
    int                ncommon;
    uint64_t           common_ms[COMMON_MAX];
    const struct timeval *common_tv[COMMON_MAX];
    /* manual clock */
    uint64_t           now;
    sc_timer_t        *armed;       /* unordered; tests have few timers */
    unsigned           narmed;
};

sc_clock_t *sc_clock_event(struct event_base *base)
{
    sc_clock_t *c = calloc(1, sizeof(*c));
    if (c)
        c->base = base;
    return c;
}

sc_clock_t *sc_clock_manual(void)
{
    return calloc(1, sizeof(sc_clock_t));
}

void sc_clock_free(sc_clock_t *c)
{
    free(c);
}

uint64_t sc_clock_now(const sc_clock_t *c)
{
    if (c->base == NULL)
        return c->now;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned sc_clock_armed(const sc_clock_t *c)
{
    return c->narmed;
}

static void unlink_manual(sc_timer_t *t)
{
    sc_clock_t *c = t->clock;
    if (t->prev)
        t->prev->next = t->next;
    else
        c->armed = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    c->narmed--;
}

void sc_clock_advance(sc_clock_t *c, uint64_t ms)
{
    uint64_t until = c->now + ms;
    for (;;) {
        sc_timer_t *first = NULL;
        for (sc_timer_t *t = c->armed; t; t = t->next)
            if (t->due <= until && (first == NULL || t->due < first->due))
                first = t;
        if (first == NULL)
            break;
        c->now = first->due;
        unlink_manual(first);
        first->armed = false;
        first->cb(first->arg);
    }
    c->now = until;
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    sc_timer_t *t = arg;
    (void)fd;
    (void)what;
    t->armed = false;
    t->cb(t->arg);
}

void sc_timer_init(sc_timer_t *t, sc_clock_t *c, sc_timer_cb cb, void *arg)
{
    *t = (sc_timer_t){ .clock = c, .cb = cb, .arg = arg };
}

/* The common timeout for ms, or NULL when the table is full (a plain
 * timeout then: correct, just not O(1)). */
static const struct timeval *common(sc_clock_t *c, uint64_t ms)
{
    for (int i = 0; i < c->ncommon; i++)
        if (c->common_ms[i] == ms)
            return c->common_tv[i];
    if (c->ncommon == COMMON_MAX)
        return NULL;
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    const struct timeval *ct = event_base_init_common_timeout(c->base, &tv);
    if (ct == NULL)
        return NULL;
    c->common_ms[c->ncommon] = ms;
    c->common_tv[c->ncommon++] = ct;
    return ct;
}

void sc_timer_arm(sc_timer_t *t, uint64_t ms)
{
    sc_clock_t *c = t->clock;
    if (c->base == NULL) {
        if (t->armed)
            unlink_manual(t);
        t->due = c->now + ms;
        t->next = c->armed;
        t->prev = NULL;
        if (c->armed)
            c->armed->prev = t;
        c->armed = t;
        c->narmed++;
        t->armed = true;
        return;
    }
    if (t->ev == NULL && (t->ev = event_new(c->base, -1, 0, on_event, t)) == NULL)
        abort();        /* out of memory: a lost timer would hang a call */
    const struct timeval *ct = common(c, ms);
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    event_add(t->ev, ct ? ct : &tv);
    t->armed = true;
}

void sc_timer_disarm(sc_timer_t *t)
{
    if (!t->armed)
        return;
    t->armed = false;
    if (t->clock->base == NULL)
        unlink_manual(t);
    else
        event_del(t->ev);
}

void sc_timer_fini(sc_timer_t *t)
{
    if (t->clock == NULL)
        return;
    sc_timer_disarm(t);
    if (t->ev)
        event_free(t->ev);
    t->ev = NULL;
    t->clock = NULL;
}
