/* guard.h — the guard module's state, shared by its files:
 *   guard.c       the module and the order of the checks per request
 *   conf.c        the YAML keys and their defaults
 *   block.c       blocking and unblocking: the log lines, the metrics
 *   admin.c       the management resource: list and lift blocks
 *   auth_limit.c  failed authentications per source and per user
 *   user_agent.c  scanners by User-Agent
 *   bucket.c, cidr.c, table.c   the mechanics
 *
 * Ownership: the instance owns guard_t (sc_instance_data), its tables,
 * lists and sweep timer; destroy frees them. */
#ifndef GUARD_GUARD_H
#define GUARD_GUARD_H

#include <sipchain.h>

#include "cidr.h"
#include "table.h"

typedef enum { ACTION_DROP, ACTION_503 } action_t;

struct sockaddr;

/* why a request was refused: sipchain_guard_refused_total{reason} */
typedef enum {
    REFUSED_DENY, REFUSED_NOT_ALLOWED, REFUSED_BLOCKED, REFUSED_RATE, REFUSED_USER_AGENT,
    REFUSED_AUTH_BLOCKED, REFUSED__N
} refused_t;

typedef struct {
    action_t    action;
    uint32_t    rate, burst;            /* requests a second per source, and at once */
    uint32_t    block_after;            /* refusals in a row that block the source */
    uint32_t    block_time_s;           /* for rate and User-Agent blocks */
    uint32_t    ipv6_prefix;            /* an IPv6 source is its /ipv6_prefix */
    uint32_t    auth_failures;          /* per source in auth_window_s (0: off) */
    uint32_t    auth_user_failures;     /* per user in auth_window_s (0: off) */
    uint32_t    auth_window_s;
    uint32_t    auth_block_time_s;      /* the first block; each next one doubles */
    uint32_t    auth_max_block_time_s;
    uint32_t    max_sources, max_users;
    cidr_list_t allow, deny, trusted;
    const char **user_agents;           /* NULL-terminated; substrings, any case */
    size_t       nuser_agents;
} guard_conf_t;

/* What a reload keeps (sc_kept, under a key naming the table sizes and
 * the IPv6 prefix: a changed one starts afresh): the tables, so that a
 * reload neither unblocks a source nor forgets a count.  The instances
 * of the old and the new chain share it while both live; owner is the
 * one that touched it last (for the log lines of an eviction). */
typedef struct guard_state {
    table_t       *sources, *users;
    entry_t       *blocked;             /* every blocked entry of both tables */
    size_t         nblocked_sources, nblocked_users;
    unsigned char  user_key[32];        /* HMAC key of user table keys */
    struct guard  *owner;
} guard_state_t;

typedef struct guard {
    sc_instance_t *inst;
    guard_conf_t   conf;
    guard_state_t *st;
    char           st_key[64];
    struct event  *sweep;
    sc_metric_t   *m_blocked[BLOCK__N], *m_blocked_user, *m_unblocked, *g_sources, *g_users;
    sc_metric_t   *m_refused[REFUSED__N];
} guard_t;

/* conf.c: the instance's keys into g->conf (defaults first).  0 or -1. */
int  guard_conf(guard_t *g, const sc_conf_node_t *conf, char *err, size_t errlen);
void guard_conf_free(guard_conf_t *c);

/* block.c */
uint64_t guard_now_ms(void);
void guard_block(guard_t *g, entry_t *e, bool user, block_reason_t why, uint32_t seconds,
                 uint64_t now);
void guard_unblock(guard_t *g, entry_t *e, const char *why);
/* True while e is blocked; unblocks it (once) when its time is over. */
bool guard_is_blocked(guard_t *g, entry_t *e, uint64_t now);
/* Ends every block whose time is over (the sweep timer). */
void guard_sweep(guard_t *g, uint64_t now);
/* A table reuses a blocked entry (table_evict_cb; arg: the state). */
void guard_evicted(entry_t *e, void *arg);
/* A message from a that did not parse (SC_EVENT_MALFORMED): it takes a
 * token of the source's bucket like a request, and blocks it the same. */
void guard_malformed(guard_t *g, const struct sockaddr *sa);
void guard_release_all(guard_t *g);
/* "rate", "auth", "user_agent", "malformed" */
const char *guard_reason_name(block_reason_t why);

/* admin.c: the "blocks" management resource */
int  guard_admin_register(guard_t *g);

/* auth_limit.c */
int      guard_auth_subscribe(guard_t *g);
/* The user table's key of user@realm into key; its name into name. */
void     guard_user_key(const guard_t *g, sc_str_t user, sc_str_t realm, uint8_t key[KEY_LEN]);
/* Whether the digest credentials of req name a user blocked now. */
bool     guard_user_blocked(guard_t *g, const sc_req_t *req, uint64_t now);

/* user_agent.c: whether ua contains one of the patterns (any case). */
bool guard_user_agent_refused(const guard_conf_t *c, sc_str_t ua);
extern const char *const guard_default_user_agents[];

/* guard.c: the source key of a (an IPv6 address: its prefix), and its
 * entry (made when new: a full bucket, a name for the log). */
void     guard_source_key(const guard_conf_t *c, const addr_t *a, uint8_t key[KEY_LEN]);
entry_t *guard_source(guard_t *g, const addr_t *a, uint64_t now);

#endif
