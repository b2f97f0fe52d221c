/* block.c — blocking and unblocking a source or a user: each is logged
 * once and counted (sipchain_blocked_total{reason}; the gauges
 * sipchain_blocked_sources and sipchain_blocked_users).  Blocked entries
 * are also on a list of their own, which a timer walks every second, so
 * that an unblock is logged when the time is over even if the source
 * never comes back — and the walk costs only what is blocked. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "guard.h"

static const char *const reason_names[BLOCK__N] = { "none", "rate", "auth", "user_agent" };

const char *guard_reason_name(block_reason_t why)
{
    return (unsigned)why < BLOCK__N ? reason_names[why] : "?";
}

uint64_t guard_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* a user entry's key starts 'u' (auth_limit.c), a source's with 4 or 6 */
static bool is_user(const entry_t *e) { return e->key[0] == 'u'; }

void guard_block(guard_t *g, entry_t *e, bool user, block_reason_t why, uint32_t seconds,
                 uint64_t now)
{
    if (e->reason == BLOCK_NONE) {
        e->bnext = g->blocked;
        e->bprev = NULL;
        if (g->blocked)
            g->blocked->bprev = e;
        g->blocked = e;
        if (user)
            g->nblocked_users++, sc_metric_add(g->g_users, 1);
        else
            g->nblocked_sources++, sc_metric_add(g->g_sources, 1);
    }
    e->reason = (uint8_t)why;
    e->until_ms = now + (uint64_t)seconds * 1000;
    sc_metric_add(user ? g->m_blocked_user : g->m_blocked[why], 1);
    sc_instance_log(g->inst, SC_LOG_LEVEL_WARN, "blocked %s %s for %u s: %s", user ? "user" : "source",
                    e->name, seconds,
                    why == BLOCK_RATE ? "over the request rate"
                    : why == BLOCK_AUTH ? "too many failed authentications"
                                        : "a scanner's User-Agent");
}

static void unlist(guard_t *g, entry_t *e)
{
    if (e->bprev)
        e->bprev->bnext = e->bnext;
    else
        g->blocked = e->bnext;
    if (e->bnext)
        e->bnext->bprev = e->bprev;
    e->bprev = e->bnext = NULL;
    if (is_user(e))
        g->nblocked_users--, sc_metric_add(g->g_users, -1);
    else
        g->nblocked_sources--, sc_metric_add(g->g_sources, -1);
}

void guard_unblock(guard_t *g, entry_t *e, const char *why)
{
    if (e->reason == BLOCK_NONE)
        return;
    sc_instance_log(g->inst, SC_LOG_LEVEL_WARN, "unblocked %s %s (%s block): %s",
                    is_user(e) ? "user" : "source", e->name, reason_names[e->reason], why);
    sc_metric_add(g->m_unblocked, 1);
    unlist(g, e);
    e->reason = BLOCK_NONE;
    e->refused = 0;
    e->failures = 0;
}

bool guard_is_blocked(guard_t *g, entry_t *e, uint64_t now)
{
    if (e->reason == BLOCK_NONE)
        return false;
    if (now < e->until_ms)
        return true;
    guard_unblock(g, e, "time over");
    return false;
}

void guard_sweep(guard_t *g, uint64_t now)
{
    for (entry_t *e = g->blocked, *n; e; e = n) {
        n = e->bnext;
        if (now >= e->until_ms)
            guard_unblock(g, e, "time over");
    }
}

void guard_evicted(entry_t *e, void *arg)
{
    guard_unblock(arg, e, "table full, the least recently seen entry reused");
}

/* the instance goes (stop, reload): its blocks leave the gauges */
void guard_release_all(guard_t *g)
{
    if (g->nblocked_sources || g->nblocked_users)
        sc_instance_log(g->inst, SC_LOG_LEVEL_WARN,
                        "%zu source(s) and %zu user(s) unblocked: the configuration they were "
                        "blocked under is gone (reload or stop)", g->nblocked_sources, g->nblocked_users);
    sc_metric_add(g->g_sources, -(int64_t)g->nblocked_sources);
    sc_metric_add(g->g_users, -(int64_t)g->nblocked_users);
    g->nblocked_sources = g->nblocked_users = 0;
    g->blocked = NULL;
}
