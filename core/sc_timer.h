/*
 * sc_timer.h — timers on a clock that tests can drive by hand.
 *
 * The transaction and dialog state machines run on RFC 3261's timers
 * (A–K, L, M) and must be testable transition by transition without
 * sleeping.  So they never touch libevent directly: they arm timers on an
 * sc_clock_t, which is either the event loop (sc_clock_event) or a manual
 * clock a test advances (sc_clock_manual + sc_clock_advance).
 *
 * A timer is embedded in its owner (no allocation per arm): init once,
 * arm/disarm any number of times, fini before the owner is freed.  A
 * callback may re-arm its own timer or fini other timers, and may free
 * the owner of the firing timer after calling sc_timer_fini on it.
 */
#ifndef SC_TIMER_H
#define SC_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct event;
struct event_base;

typedef struct sc_clock sc_clock_t;
typedef void (*sc_timer_cb)(void *arg);

typedef struct sc_timer {
    sc_clock_t      *clock;
    sc_timer_cb      cb;
    void            *arg;
    bool             armed;
    /* event clock */
    struct event    *ev;            /* created on first arm */
    /* manual clock */
    uint64_t         due;
    struct sc_timer *prev, *next;
} sc_timer_t;

/* The clock of an event loop.  Durations used often (T1 multiples) share
 * libevent common timeouts, so 100k armed timers stay cheap. */
sc_clock_t *sc_clock_event(struct event_base *base);
/* A clock that moves only when a test says so; starts at 0 ms. */
sc_clock_t *sc_clock_manual(void);
void        sc_clock_free(sc_clock_t *c);
/* Milliseconds on the clock (monotonic for the event clock). */
uint64_t    sc_clock_now(const sc_clock_t *c);
/* Manual clock: moves time forward by ms, firing every timer that falls
 * due, earliest first, each with the clock showing its due time. */
void        sc_clock_advance(sc_clock_t *c, uint64_t ms);
/* Manual clock: how many timers are armed (tests). */
unsigned    sc_clock_armed(const sc_clock_t *c);

void sc_timer_init(sc_timer_t *t, sc_clock_t *c, sc_timer_cb cb, void *arg);
/* (Re)arms to fire once, ms from now. */
void sc_timer_arm(sc_timer_t *t, uint64_t ms);
void sc_timer_disarm(sc_timer_t *t);
void sc_timer_fini(sc_timer_t *t);

#endif
