/*
 * resolver.h — RFC 3263 §4 on the event loop: which transport, address
 * and port a SIP URI with a host name leads to, by NAPTR, SRV (RFC 2782
 * order) and A/AAAA, with /etc/hosts first for addresses.  Never blocks:
 * queries go over UDP to the configured name servers (default: those of
 * /etc/resolv.conf), each with a timeout and retries to the next server.
 *
 * The answer is the ordered list of targets to try: a sender fails over
 * to the next on a transport error or timeout (§4.3).
 *
 * Answers, positive and negative, are kept for their TTL (dns_cache.h):
 * a second request to the same domain asks nothing.  A name the hosts
 * file knows is taken from it alone (no NAPTR or SRV).  A resolution
 * never outlasts one query's retries (timeout x attempts x servers),
 * however many queries it needs; a name server that does not answer,
 * refuses (ICMP port unreachable, seen at once on the query's connected
 * socket) or fails (SERVFAIL, REFUSED) ends it with the targets found so
 * far, or none and why.  The server
 * that answered last is asked first, so a dead first server costs one
 * timeout, not one per query.
 */
#ifndef SC_RESOLVER_H
#define SC_RESOLVER_H

#include <event2/event.h>

#include "transport.h"

#define SC_DNS_MAX_SERVERS 4
#define SC_MAX_TARGETS     16

typedef struct {
    struct sockaddr_storage servers[SC_DNS_MAX_SERVERS];
    socklen_t               server_len[SC_DNS_MAX_SERVERS];
    int                     nservers;       /* 0: read /etc/resolv.conf */
    const char             *hosts_file;     /* NULL: /etc/hosts */
    unsigned                timeout_ms;     /* per query and server (default 1000) */
    unsigned                attempts;       /* rounds over the servers (default 2) */
    int                     cache_size;     /* answers kept; 0: default 4096, < 0: none */
    unsigned                negative_ttl;   /* s a negative answer without SOA is kept (default 30) */
    unsigned                max_ttl;        /* s any answer is kept at most (default 3600) */
} sc_dns_conf_t;

typedef struct {
    sc_tp_kind_t            kind;
    struct sockaddr_storage addr;
    socklen_t               len;
} sc_target_t;

typedef struct sc_resolver sc_resolver_t;
typedef struct sc_resolve sc_resolve_t;

/* n targets in the order to try; n == 0 when the name led nowhere (why
 * says so, naming the name: "DNS: no such domain example.invalid",
 * "DNS timeout: no answer for NAPTR example.com" ...; valid during the
 * callback only). */
typedef void (*sc_resolved_cb)(const sc_target_t *t, int n, const char *why, void *arg);

/* The status a request whose next hop did not resolve gets (why as the
 * callback gave it): 408 when the name servers did not answer in time,
 * else 503. */
unsigned sc_resolve_fail_status(const char *why);

/* Queries sent to name servers and answers taken from the cache since
 * the start (logs, tests). */
void sc_resolver_stats(const sc_resolver_t *r, unsigned long *sent, unsigned long *cached);

sc_resolver_t *sc_resolver_new(struct event_base *base, const sc_dns_conf_t *conf);
/* Cancels every resolution in flight (no callbacks) and frees. */
void           sc_resolver_free(sc_resolver_t *r);

/* Starts resolving uri (sip: or sips:, any host); the callback comes
 * later, never from inside this call.  tls: whether TLS targets are
 * usable.  NULL when out of memory. */
sc_resolve_t *sc_resolve(sc_resolver_t *r, const sc_uri_t *uri, bool tls, sc_resolved_cb cb,
                         void *arg);
void          sc_resolve_cancel(sc_resolve_t *q);

/* /etc/hosts-style lookup of name in path: an address of family (AF_INET
 * or AF_INET6, 0 any) into out.  0 when found. */
int sc_hosts_lookup(const char *path, const char *name, int family, struct sockaddr_storage *out,
                    socklen_t *len);

#endif
