/*
 * guard — the first link of a chain on a public address: who may send at
 * all, and how much (Kamailio's pike, permissions and the fail2ban habit,
 * as one middleware).  Per request, in this order:
 *
 *   1. trusted (CIDR list: a gateway, an upstream proxy): marked trusted
 *      (sc_req_set_trusted: digest-auth does not challenge it) and passed
 *      on, past every limit below;
 *   2. deny (CIDR), or not in allow when allow is given: refused;
 *   3. a blocked source: refused (a source blocked for failed
 *      authentications gets 403, like a blocked user, below);
 *   4. a scanner's User-Agent (user_agent.c): the source is blocked;
 *   5. the rate: a token bucket per source (an IPv4 address, an IPv6
 *      /ipv6_prefix) of `rate` requests a second and `burst` at once; a
 *      request over it is refused, and a source refused `block_after`
 *      times in a row (no second without a refusal) is blocked for
 *      `block_time`;
 *   6. credentials naming a user blocked for failed authentications
 *      (auth_limit.c): 403.
 *
 * "Refused" is the action: drop (no answer: a flood gets nothing back,
 * a scanner sees nobody) or 503 with Retry-After.  A refusal for failed
 * authentications is always "403 Forbidden", whoever the user: a blocked
 * unknown user and a blocked known one look the same, and a right
 * password is refused until the block is over.  An ACK is never answered:
 * refused, it is dropped.
 *
 * A message from a source that does not parse (garbage: it never
 * becomes a request) is told by the core (SC_EVENT_MALFORMED) and takes
 * a token of the source's bucket like a request: a source sending
 * garbage over the rate is blocked like one sending requests over it
 * (reason "malformed").  A blocked source is also dropped in the kernel
 * (sc_source_refuse, block.c): its flood no longer reaches the process.
 *
 * Memory: two tables of fixed size (max_sources, max_users; table.h)
 * reusing the least recently seen entry; one hash lookup a request.
 * The tables outlive a reload (sc_kept, guard.h): blocks and counts go
 * on; a reload changing max_sources, max_users or ipv6_prefix starts
 * them afresh.
 */
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"

void guard_source_key(const guard_conf_t *c, const addr_t *a, uint8_t key[KEY_LEN])
{
    addr_t m = *a;
    if (m.family == 6)
        addr_mask(&m, c->ipv6_prefix);
    key[0] = m.family;
    memcpy(key + 1, m.a, 16);
}

entry_t *guard_source(guard_t *g, const addr_t *a, uint64_t now)
{
    uint8_t key[KEY_LEN];
    guard_source_key(&g->conf, a, key);
    entry_t *e = table_find(g->st->sources, key);
    if (e)
        return e;
    e = table_add(g->st->sources, key);
    addr_t m = *a;
    if (m.family == 6)
        addr_mask(&m, g->conf.ipv6_prefix);
    addr_format(&m, e->name, sizeof(e->name));
    if (m.family == 6)
        snprintf(e->name + strlen(e->name), sizeof(e->name) - strlen(e->name), "/%u", g->conf.ipv6_prefix);
    bucket_fill(&e->bucket, g->conf.burst, now);
    return e;
}

static bool is_ack(const sc_req_t *req)
{
    sc_str_t m = sc_req_method(req);
    return m.len == 3 && memcmp(m.s, "ACK", 3) == 0;
}

/* The configured action; Retry-After (seconds) with a 503. */
static void refuse(guard_t *g, sc_req_t *req, sc_res_t *res, refused_t why, uint64_t retry_s)
{
    sc_metric_add(g->m_refused[why], 1);
    if (g->conf.action == ACTION_DROP || is_ack(req)) {
        sc_req_drop(req);
        return;
    }
    char v[24];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)(retry_s ? retry_s : 1));
    sc_res_add_header(res, "Retry-After", v);
    sc_res_send(res, 503, "Service Unavailable");
}

static void forbid(guard_t *g, sc_req_t *req, sc_res_t *res)
{
    sc_metric_add(g->m_refused[REFUSED_AUTH_BLOCKED], 1);
    if (is_ack(req))
        sc_req_drop(req);
    else
        sc_res_send(res, 403, "Forbidden");
}

/* a over the rate: refused, and blocked when it stays over it */
static bool over_rate(guard_t *g, entry_t *e, block_reason_t why, uint64_t now)
{
    const guard_conf_t *c = &g->conf;
    if (bucket_take(&e->bucket, c->rate, c->burst, now))
        return false;
    /* in a row: a second with no refusal starts the count again */
    if (now - e->last_refused_ms > 1000)
        e->refused = 0;
    e->last_refused_ms = now;
    if (c->block_after && ++e->refused >= c->block_after)
        guard_block(g, e, false, why, c->block_time_s, now);
    return true;
}

void guard_malformed(guard_t *g, const struct sockaddr *sa)
{
    const guard_conf_t *c = &g->conf;
    addr_t a = { 0 };
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        a.family = 4;
        memcpy(a.a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *p = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(p, mapped, 12) == 0) {
            a.family = 4;
            memcpy(a.a, p + 12, 4);
        } else {
            a.family = 6;
            memcpy(a.a, p, 16);
        }
    } else {
        return;
    }
    if (cidr_list_match(&c->trusted, &a))
        return;
    g->st->owner = g;
    uint64_t now = guard_now_ms();
    entry_t *e = guard_source(g, &a, now);
    if (guard_is_blocked(g, e, now))
        return;
    over_rate(g, e, BLOCK_MALFORMED, now);
}

static void on_malformed(const char *event, const void *data, void *arg)
{
    (void)event;
    guard_malformed(arg, data);
}

static void guard_handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    guard_t *g = sc_instance_data(inst);
    const guard_conf_t *c = &g->conf;
    g->st->owner = g;
    addr_t a;
    if (addr_parse(sc_req_source_ip(req), &a) != 0) {
        sc_next(req);                   /* not from the network (cannot be) */
        return;
    }
    if (cidr_list_match(&c->trusted, &a)) {
        sc_req_set_trusted(req);
        sc_next(req);
        return;
    }
    if (cidr_list_match(&c->deny, &a)) {
        refuse(g, req, res, REFUSED_DENY, 0);
        return;
    }
    if (c->allow.n && !cidr_list_match(&c->allow, &a)) {
        refuse(g, req, res, REFUSED_NOT_ALLOWED, 0);
        return;
    }
    uint64_t now = guard_now_ms();
    entry_t *e = guard_source(g, &a, now);
    if (guard_is_blocked(g, e, now)) {
        if (e->reason == BLOCK_AUTH)
            forbid(g, req, res);
        else
            refuse(g, req, res, REFUSED_BLOCKED, (e->until_ms - now + 999) / 1000);
        return;
    }
    if (guard_user_agent_refused(c, sc_req_header(req, "User-Agent"))) {
        guard_block(g, e, false, BLOCK_USER_AGENT, c->block_time_s, now);
        refuse(g, req, res, REFUSED_USER_AGENT, c->block_time_s);
        return;
    }
    if (over_rate(g, e, BLOCK_RATE, now)) {
        refuse(g, req, res, REFUSED_RATE, e->reason == BLOCK_RATE ? c->block_time_s : 1);
        return;
    }
    if (guard_user_blocked(g, req, now)) {
        forbid(g, req, res);
        return;
    }
    sc_next(req);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    guard_t *g = arg;
    g->st->owner = g;
    guard_sweep(g, guard_now_ms());
}

static void state_drop(void *obj)
{
    guard_state_t *st = obj;
    if (st->owner)
        guard_release_all(st->owner);
    table_free(st->sources);
    table_free(st->users);
    free(st);
}

static void *state_make(void *arg)
{
    guard_t *g = arg;
    guard_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->sources = table_new(g->conf.max_sources, guard_evicted, st);
    st->users = table_new(g->conf.max_users, guard_evicted, st);
    if (st->sources == NULL || st->users == NULL ||
        sc_random(st->user_key, sizeof(st->user_key)) != 0) {
        state_drop(st);
        return NULL;
    }
    return st;
}

static int guard_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    guard_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -1;
    sc_instance_set_data(inst, g);
    g->inst = inst;
    if (guard_conf(g, conf, err, errlen))
        return -1;
    static const char *const labels[BLOCK__N] = { NULL, "reason=\"rate\"", "reason=\"auth\"",
                                                  "reason=\"user_agent\"", "reason=\"malformed\"" };
    for (int i = 1; i < BLOCK__N; i++)
        g->m_blocked[i] = sc_instance_counter(inst, "sipchain_blocked_total",
                                              "sources and users blocked, by reason", labels[i]);
    g->m_blocked_user = sc_instance_counter(inst, "sipchain_blocked_total",
                                            "sources and users blocked, by reason",
                                            "reason=\"auth_user\"");
    static const char *const refused[REFUSED__N] = {
        "reason=\"deny\"", "reason=\"not_allowed\"", "reason=\"blocked\"", "reason=\"rate\"",
        "reason=\"user_agent\"", "reason=\"auth_blocked\""
    };
    for (int i = 0; i < REFUSED__N; i++)
        g->m_refused[i] = sc_instance_counter(inst, "sipchain_guard_refused_total",
                                              "requests the guard refused, by reason", refused[i]);
    g->m_unblocked = sc_instance_counter(inst, "sipchain_unblocked_total", "blocks ended", NULL);
    g->g_sources = sc_instance_gauge(inst, "sipchain_blocked_sources", "sources blocked now", NULL);
    g->g_users = sc_instance_gauge(inst, "sipchain_blocked_users", "users blocked now", NULL);
    snprintf(g->st_key, sizeof(g->st_key), "tables/%u/%u/%u", g->conf.max_sources, g->conf.max_users,
             g->conf.ipv6_prefix);
    if ((g->st = sc_kept(inst, g->st_key, state_make, state_drop, g)) == NULL)
        return sc_conf_error(err, errlen, conf, "guard: out of memory for %u sources and %u users",
                             g->conf.max_sources, g->conf.max_users);
    g->st->owner = g;
    if (sc_event_subscribe(inst, SC_EVENT_MALFORMED, on_malformed, g) != 0)
        return sc_conf_error(err, errlen, conf, "guard: cannot subscribe to malformed messages");
    if (guard_auth_subscribe(g) != 0)
        return sc_conf_error(err, errlen, conf, "guard: cannot subscribe to authentication events");
    if (guard_admin_register(g) != 0)
        return sc_conf_error(err, errlen, conf, "guard: cannot register its management resource");
    return 0;
}

static int guard_start(sc_instance_t *inst)
{
    guard_t *g = sc_instance_data(inst);
    g->sweep = event_new(sc_instance_base(inst), -1, EV_PERSIST, on_sweep, g);
    struct timeval tv = { 0, 250000 };
    return g->sweep && event_add(g->sweep, &tv) == 0 ? 0 : -1;
}

static void guard_destroy(sc_instance_t *inst)
{
    guard_t *g = sc_instance_data(inst);
    if (g == NULL)
        return;
    if (g->sweep)
        event_free(g->sweep);
    if (g->st) {
        g->st->owner = g;       /* the last to let go logs the blocks that end */
        guard_state_t *st = g->st;
        if (!sc_kept_release(inst, g->st_key, st, state_drop))
            st->owner = NULL;   /* the newer instance takes it at its next request */
    }
    guard_conf_free(&g->conf);
    free(g);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "guard",
    .version = "1.0",
    .create = guard_create,
    .start = guard_start,
    .handle = guard_handle,
    .destroy = guard_destroy,
};
