/* conf.c — the guard's YAML keys and the defaults, chosen to be safe on
 * a public address (README, "Security"): a phone sends a few requests a
 * second at most, a scanner or a brute force thousands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"

static int uint_key(const sc_conf_node_t *conf, const char *key, unsigned long min, unsigned long max,
                    uint32_t *out, char *err, size_t errlen)
{
    const sc_conf_node_t *n = sc_conf_get(conf, key);
    unsigned long v;
    if (n == NULL)
        return 0;
    if (sc_conf_uint(n, max, &v, err, errlen))
        return -1;
    if (v < min)
        return sc_conf_error(err, errlen, n, "%s must be at least %lu", key, min);
    *out = (uint32_t)v;
    return 0;
}

static int cidr_key(const sc_conf_node_t *conf, const char *key, cidr_list_t *l, char *err,
                    size_t errlen)
{
    const sc_conf_node_t *n = sc_conf_get(conf, key);
    if (n == NULL)
        return 0;
    size_t cap = 0;
    for (const sc_conf_node_t *e = sc_conf_first(n); e; e = sc_conf_next(e))
        cap++;
    if (cap > 1024)
        return sc_conf_error(err, errlen, n, "%s: at most 1024 ranges", key);
    if (cap && (l->v = calloc(cap, sizeof(*l->v))) == NULL)
        return sc_conf_error(err, errlen, n, "out of memory");
    for (const sc_conf_node_t *e = sc_conf_first(n); e; e = sc_conf_next(e)) {
        const char *s;
        if (sc_conf_string(e, &s, err, errlen))
            return -1;
        if (cidr_parse(s, &l->v[l->n]) != 0)
            return sc_conf_error(err, errlen, e,
                                 "%s: \"%s\" is not an address or a range (192.0.2.0/24, 2001:db8::/32)",
                                 key, s);
        l->n++;
    }
    return 0;
}

static int user_agents_key(const sc_conf_node_t *conf, guard_conf_t *c, char *err, size_t errlen)
{
    const sc_conf_node_t *n = sc_conf_get(conf, "user_agents");
    size_t cap = 0;
    if (n == NULL) {
        c->user_agents = (const char **)guard_default_user_agents;
        while (guard_default_user_agents[c->nuser_agents])
            c->nuser_agents++;
        return 0;
    }
    for (const sc_conf_node_t *e = sc_conf_first(n); e; e = sc_conf_next(e))
        cap++;
    if ((c->user_agents = calloc(cap + 1, sizeof(char *))) == NULL)
        return sc_conf_error(err, errlen, n, "out of memory");
    for (const sc_conf_node_t *e = sc_conf_first(n); e; e = sc_conf_next(e)) {
        const char *s;
        if (sc_conf_string(e, &s, err, errlen))
            return -1;
        if (s[0] == '\0')
            return sc_conf_error(err, errlen, e, "an empty pattern would refuse everyone");
        c->user_agents[c->nuser_agents++] = s;
    }
    return 0;
}

int guard_conf(guard_t *g, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "action", "rate", "burst", "block_after", "block_time",
                                        "ipv6_prefix", "auth_failures", "auth_user_failures",
                                        "auth_window", "auth_block_time", "auth_max_block_time",
                                        "allow", "deny", "trusted", "user_agents", "max_sources",
                                        "max_users", NULL };
    guard_conf_t *c = &g->conf;
    *c = (guard_conf_t){
        .action = ACTION_DROP,
        .rate = 20,
        .burst = 40,
        .block_after = 100,
        .block_time_s = 300,
        .ipv6_prefix = 64,
        .auth_failures = 10,
        .auth_user_failures = 20,
        .auth_window_s = 300,
        .auth_block_time_s = 60,
        .auth_max_block_time_s = 3600,
        .max_sources = 65536,
        .max_users = 16384,
    };
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    const sc_conf_node_t *n;
    if ((n = sc_conf_get(conf, "action"))) {
        const char *a;
        if (sc_conf_string(n, &a, err, errlen))
            return -1;
        if (strcmp(a, "drop") != 0 && strcmp(a, "503") != 0)
            return sc_conf_error(err, errlen, n, "action is drop or 503, not \"%s\"", a);
        c->action = a[0] == 'd' ? ACTION_DROP : ACTION_503;
    }
    if (uint_key(conf, "rate", 1, 1000000, &c->rate, err, errlen) ||
        uint_key(conf, "burst", 1, 1000000, &c->burst, err, errlen) ||
        uint_key(conf, "block_after", 0, 1000000, &c->block_after, err, errlen) ||
        uint_key(conf, "block_time", 1, 86400 * 7, &c->block_time_s, err, errlen) ||
        uint_key(conf, "ipv6_prefix", 1, 128, &c->ipv6_prefix, err, errlen) ||
        uint_key(conf, "auth_failures", 0, 1000000, &c->auth_failures, err, errlen) ||
        uint_key(conf, "auth_user_failures", 0, 1000000, &c->auth_user_failures, err, errlen) ||
        uint_key(conf, "auth_window", 1, 86400 * 7, &c->auth_window_s, err, errlen) ||
        uint_key(conf, "auth_block_time", 1, 86400 * 7, &c->auth_block_time_s, err, errlen) ||
        uint_key(conf, "auth_max_block_time", 1, 86400 * 30, &c->auth_max_block_time_s, err, errlen) ||
        uint_key(conf, "max_sources", 16, 10000000, &c->max_sources, err, errlen) ||
        uint_key(conf, "max_users", 16, 10000000, &c->max_users, err, errlen))
        return -1;
    if (c->auth_max_block_time_s < c->auth_block_time_s) {
        if ((n = sc_conf_get(conf, "auth_max_block_time")) != NULL)
            return sc_conf_error(err, errlen, n, "auth_max_block_time is less than auth_block_time");
        c->auth_max_block_time_s = c->auth_block_time_s;    /* a long first block: no backoff */
    }
    if (cidr_key(conf, "allow", &c->allow, err, errlen) || cidr_key(conf, "deny", &c->deny, err, errlen) ||
        cidr_key(conf, "trusted", &c->trusted, err, errlen))
        return -1;
    return user_agents_key(conf, c, err, errlen);
}

void guard_conf_free(guard_conf_t *c)
{
    free(c->allow.v);
    free(c->deny.v);
    free(c->trusted.v);
    if (c->user_agents != (const char **)guard_default_user_agents)
        free(c->user_agents);
}
