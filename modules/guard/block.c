/* block.c — blocking and unblocking a source or a user: each is logged
 * once and counted (sipchain_blocked_total{reason}; the gauges
 * sipchain_blocked_sources and sipchain_blocked_users).  Blocked entries
 * are also on a list of their own, which a timer walks every second, so
 * that an unblock is logged when the time is over even if the source
 * never comes back — and the walk costs only what is blocked. */
#define _POSIX_C_SOURCE 200809L
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "guard.h"

static const char *const reason_names[BLOCK__N] = { "none", "rate", "auth", "user_agent", "malformed" };

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

/* Whether a block of reason why is one the kernel drops: when the guard
 * would answer nothing anyway (action drop), and always for a source of
 * garbage; never for failed authentications (refused with 403, so that
 * a blocked user and a blocked source look the same). */
static bool kernel_drops(const guard_t *g, block_reason_t why)
{
    return why == BLOCK_MALFORMED || (why != BLOCK_AUTH && g->conf.action == ACTION_DROP);
}

/* A source's datagrams are dropped in the kernel while it is blocked
 * (sc_source_refuse: the server's set, kept across reloads, bounded;
 * past its bound the refusal in handle stays the only one).  An IPv6
 * source is its /ipv6_prefix network. */
static void kernel(guard_t *g, const entry_t *e, bool refuse, uint32_t seconds)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (e->key[0] == 4) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        v4->sin_family = AF_INET;
        memcpy(&v4->sin_addr, e->key + 1, 4);
    } else if (e->key[0] == 6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
        v6->sin6_family = AF_INET6;
        memcpy(&v6->sin6_addr, e->key + 1, 16);
    } else {
        return;
    }
    unsigned bits = e->key[0] == 6 ? g->conf.ipv6_prefix : 0;
    if (refuse)
        sc_source_refuse_net(g->inst, (struct sockaddr *)&ss, bits, seconds);
    else
        sc_source_allow_net(g->inst, (struct sockaddr *)&ss, bits);
}

void guard_block(guard_t *g, entry_t *e, bool user, block_reason_t why, uint32_t seconds,
                 uint64_t now)
{
    if (e->reason == BLOCK_NONE) {
        e->bnext = g->st->blocked;
        e->bprev = NULL;
        if (g->st->blocked)
            g->st->blocked->bprev = e;
        g->st->blocked = e;
        if (user)
            g->st->nblocked_users++, sc_metric_add(g->g_users, 1);
        else
            g->st->nblocked_sources++, sc_metric_add(g->g_sources, 1);
    }
    e->reason = (uint8_t)why;
    e->until_ms = now + (uint64_t)seconds * 1000;
    if (!user && kernel_drops(g, why))
        kernel(g, e, true, seconds);
    sc_metric_add(user ? g->m_blocked_user : g->m_blocked[why], 1);
    sc_instance_log(g->inst, SC_LOG_LEVEL_WARN, "blocked %s %s for %u s: %s", user ? "user" : "source",
                    e->name, seconds,
                    why == BLOCK_RATE        ? "over the request rate"
                    : why == BLOCK_AUTH      ? "too many failed authentications"
                    : why == BLOCK_MALFORMED ? "over the rate with messages that do not parse"
                                             : "a scanner's User-Agent");
}

static void unlist(guard_t *g, entry_t *e)
{
    if (e->bprev)
        e->bprev->bnext = e->bnext;
    else
        g->st->blocked = e->bnext;
    if (e->bnext)
        e->bnext->bprev = e->bprev;
    e->bprev = e->bnext = NULL;
    if (is_user(e))
        g->st->nblocked_users--, sc_metric_add(g->g_users, -1);
    else
        g->st->nblocked_sources--, sc_metric_add(g->g_sources, -1);
}

void guard_unblock(guard_t *g, entry_t *e, const char *why)
{
    if (e->reason == BLOCK_NONE)
        return;
    sc_instance_log(g->inst, SC_LOG_LEVEL_WARN, "unblocked %s %s (%s block): %s",
                    is_user(e) ? "user" : "source", e->name, reason_names[e->reason], why);
    sc_metric_add(g->m_unblocked, 1);
    if (!is_user(e))
        kernel(g, e, false, 0);
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
    for (entry_t *e = g->st->blocked, *n; e; e = n) {
        n = e->bnext;
        if (now >= e->until_ms)
            guard_unblock(g, e, "time over");
    }
}

void guard_evicted(entry_t *e, void *arg)
{
    guard_state_t *st = arg;
    if (st->owner)
        guard_unblock(st->owner, e, "table full, the least recently seen entry reused");
}

/* the state goes (stop, or a reload that changed the tables' sizes or
 * the IPv6 prefix): its blocks leave the gauges and the kernel */
void guard_release_all(guard_t *g)
{
    if (g->st->nblocked_sources || g->st->nblocked_users)
        sc_instance_log(g->inst, SC_LOG_LEVEL_WARN,
                        "%zu source(s) and %zu user(s) unblocked: the configuration they were "
                        "blocked under is gone (stop, or a reload with other table sizes)",
                        g->st->nblocked_sources, g->st->nblocked_users);
    for (entry_t *e = g->st->blocked; e; e = e->bnext)
        if (!is_user(e))
            kernel(g, e, false, 0);
    sc_metric_add(g->g_sources, -(int64_t)g->st->nblocked_sources);
    sc_metric_add(g->g_users, -(int64_t)g->st->nblocked_users);
    g->st->nblocked_sources = g->st->nblocked_users = 0;
    g->st->blocked = NULL;
}
