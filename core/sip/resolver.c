/* resolver.c — see resolver.h. */
#include "resolver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dns_cache.h"
#include "dns_msg.h"
#include "sc_list.h"
#include "sc_log.h"

typedef struct {
    char         name[SC_DNS_NAME_MAX];
    uint16_t     port;
    sc_tp_kind_t kind;
} hop_t;

struct sc_resolve {
    sc_resolver_t *r;
    sc_resolved_cb cb;
    void          *arg;
    char           host[SC_DNS_NAME_MAX];
    bool           tls;
    /* SRV names still to ask, with the transport each stands for */
    char           srv[4][SC_DNS_NAME_MAX];
    sc_tp_kind_t   srv_kind[4];
    int            nsrv, srv_at;
    bool           naptr_done;
    /* hosts whose addresses make the targets, in order */
    hop_t          hops[SC_MAX_TARGETS];
    int            nhops, hop_at;
    bool           tried_aaaa;
    sc_dns_rr_t    extra[16];           /* addresses an SRV answer carried along */
    int            nextra;
    sc_target_t    out[SC_MAX_TARGETS];
    int            nout;
    const char    *why;
    char           whybuf[SC_DNS_NAME_MAX + 80];
    /* the query in flight */
    sc_dns_type_t  qtype;
    char           qname[SC_DNS_NAME_MAX];
    uint16_t       id;
    unsigned       tries;
    unsigned       first;           /* the server the first try went to */
    evutil_socket_t fd;
    struct event  *rd, *timer, *done, *hit;
    struct event  *deadline;        /* the whole resolution's bound */
    /* an answer from the cache, taken in on the next loop turn (no
     * recursion through a chain of cached answers) */
    sc_dns_rr_t    ans[32];
    int            nans, ans_rcode;
    sc_link_t      link;
};

struct sc_resolver {
    struct event_base *base;
    sc_dns_conf_t      conf;
    char               hosts_file[256];
    sc_list_t          pending;
    sc_dns_cache_t    *cache;
    unsigned long      sent, cached;
    unsigned           good;            /* the server that answered last: asked first */
};

#define TIMEOUT_WHY "DNS timeout"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *type_name(sc_dns_type_t t)
{
    return t == SC_DNS_NAPTR ? "NAPTR" : t == SC_DNS_SRV ? "SRV" : t == SC_DNS_AAAA ? "AAAA" : "A";
}

unsigned sc_resolve_fail_status(const char *why)
{
    return why && strncmp(why, TIMEOUT_WHY, sizeof(TIMEOUT_WHY) - 1) == 0 ? 408 : 503;
}

void sc_resolver_stats(const sc_resolver_t *r, unsigned long *sent, unsigned long *cached)
{
    *sent = r->sent;
    *cached = r->cached;
}

static uint16_t default_port(sc_tp_kind_t k) { return k == SC_TP_TLS ? 5061 : 5060; }

/* nameserver lines of /etc/resolv.conf, port 53 */
static void read_resolv_conf(sc_dns_conf_t *c)
{
    FILE *f = fopen("/etc/resolv.conf", "r");
    char line[256], ip[128];
    while (f && fgets(line, sizeof(line), f) && c->nservers < SC_DNS_MAX_SERVERS) {
        if (sscanf(line, " nameserver %127s", ip) != 1)
            continue;
        struct sockaddr_in *v4 = (struct sockaddr_in *)&c->servers[c->nservers];
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->servers[c->nservers];
        memset(&c->servers[c->nservers], 0, sizeof(c->servers[0]));
        if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons(53);
            c->server_len[c->nservers++] = sizeof(*v4);
        } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(53);
            c->server_len[c->nservers++] = sizeof(*v6);
        }
    }
    if (f)
        fclose(f);
}

sc_resolver_t *sc_resolver_new(struct event_base *base, const sc_dns_conf_t *conf)
{
    sc_resolver_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->base = base;
    if (conf)
        r->conf = *conf;
    if (r->conf.nservers == 0)
        read_resolv_conf(&r->conf);
    snprintf(r->hosts_file, sizeof(r->hosts_file), "%s",
             r->conf.hosts_file ? r->conf.hosts_file : "/etc/hosts");
    r->conf.hosts_file = r->hosts_file;
    if (r->conf.timeout_ms == 0)
        r->conf.timeout_ms = 1000;
    if (r->conf.attempts == 0)
        r->conf.attempts = 2;
    if (r->conf.negative_ttl == 0)
        r->conf.negative_ttl = 30;
    if (r->conf.max_ttl == 0)
        r->conf.max_ttl = 3600;
    if (r->conf.cache_size >= 0 &&
        (r->cache = sc_dns_cache_new(r->conf.cache_size ? (unsigned)r->conf.cache_size : 4096)) == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

static void query_stop(sc_resolve_t *q)
{
    if (q->rd) {
        event_free(q->rd);
        q->rd = NULL;
    }
    if (q->fd >= 0) {
        close(q->fd);
        q->fd = -1;
    }
    if (q->timer)
        evtimer_del(q->timer);
}

static void resolve_free(sc_resolve_t *q)
{
    query_stop(q);
    if (q->timer)
        event_free(q->timer);
    if (q->done)
        event_free(q->done);
    if (q->hit)
        event_free(q->hit);
    if (q->deadline)
        event_free(q->deadline);
    sc_list_remove(&q->r->pending, &q->link);
    free(q);
}

void sc_resolve_cancel(sc_resolve_t *q)
{
    if (q)
        resolve_free(q);
}

void sc_resolver_free(sc_resolver_t *r)
{
    if (r == NULL)
        return;
    sc_resolve_t *q;
    while ((q = sc_list_first(&r->pending, sc_resolve_t, link)) != NULL)
        resolve_free(q);
    sc_dns_cache_free(r->cache);
    free(r);
}

/* --- /etc/hosts -------------------------------------------------------- */

static int to_sockaddr(const char *ip, int family, struct sockaddr_storage *out, socklen_t *len)
{
    union {
        struct sockaddr_storage ss;
        struct sockaddr_in      v4;
        struct sockaddr_in6     v6;
    } u;
    memset(&u, 0, sizeof(u));
    if (family != AF_INET6 && inet_pton(AF_INET, ip, &u.v4.sin_addr) == 1) {
        u.v4.sin_family = AF_INET;
        *len = sizeof(u.v4);
    } else if (family != AF_INET && inet_pton(AF_INET6, ip, &u.v6.sin6_addr) == 1) {
        u.v6.sin6_family = AF_INET6;
        *len = sizeof(u.v6);
    } else {
        return -1;
    }
    memcpy(out, &u.ss, sizeof(*out));
    return 0;
}

int sc_hosts_lookup(const char *path, const char *name, int family, struct sockaddr_storage *out,
                    socklen_t *len)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int rc = -1;
    while (f && rc != 0 && fgets(line, sizeof(line), f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save, *ip = strtok_r(line, " \t\r\n", &save);
        for (char *n = ip ? strtok_r(NULL, " \t\r\n", &save) : NULL; n && rc != 0;
             n = strtok_r(NULL, " \t\r\n", &save))
            if (strcasecmp(n, name) == 0 && to_sockaddr(ip, family, out, len) == 0)
                rc = 0;
    }
    if (f)
        fclose(f);
    return rc;
}

/* --- one query at a time ------------------------------------------------ */

static void step(sc_resolve_t *q);
static void on_answer(sc_resolve_t *q, const sc_dns_rr_t *rrs, int n);
static void on_read(evutil_socket_t fd, short what, void *arg);
static void finish(sc_resolve_t *q);

/* The name a failure is about: the host asked for, or (addresses) the
 * SRV target being looked up. */
static const char *subject(const sc_resolve_t *q)
{
    return q->qtype == SC_DNS_A || q->qtype == SC_DNS_AAAA ? q->qname : q->host;
}

/* The name servers failed us (no answer, refused, SERVFAIL): nothing
 * more is asked; what was found so far is the answer, else why. */
static void give_up(sc_resolve_t *q, const char *fmt, const char *detail)
{
    query_stop(q);
    int n = snprintf(q->whybuf, sizeof(q->whybuf), fmt, detail);
    if (n > 0 && (size_t)n < sizeof(q->whybuf))
        snprintf(q->whybuf + n, sizeof(q->whybuf) - (size_t)n, " (%s %s)", type_name(q->qtype),
                 q->qname);
    q->why = q->whybuf;
    sc_log(SC_LOG_WARN, "dns: %s", q->why);
    finish(q);
}

static void server_text(const sc_resolver_t *r, unsigned server, char *out, size_t cap)
{
    const struct sockaddr *a = (const struct sockaddr *)&r->conf.servers[server];
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port;
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)a;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
        port = ntohs(v6->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)a;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
        port = ntohs(v4->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    }
}

static void send_query(sc_resolve_t *q);

/* This server failed now (refused, SERVFAIL): the next at once, while
 * tries are left. */
static void next_server(sc_resolve_t *q, const char *fmt, const char *detail)
{
    if (++q->tries < q->r->conf.attempts * (unsigned)q->r->conf.nservers)
        send_query(q);
    else
        give_up(q, fmt, detail);
}

/* Each query on a socket of its own, connected to the server: only its
 * answers come in, and an ICMP port unreachable is seen at once. */
static void send_query(sc_resolve_t *q)
{
    sc_resolver_t *r = q->r;
    uint8_t buf[512];
    query_stop(q);
    unsigned server = (q->first + q->tries) % (unsigned)r->conf.nservers;
    const struct sockaddr *to = (const struct sockaddr *)&r->conf.servers[server];
    size_t n = sc_dns_query(q->id, q->qname, q->qtype, buf, sizeof(buf));
    if (n == 0) {
        on_answer(q, NULL, 0);          /* not a name DNS can carry */
        return;
    }
    q->fd = socket(to->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    q->rd = q->fd < 0 ? NULL : event_new(r->base, q->fd, EV_READ | EV_PERSIST, on_read, q);
    if (q->rd == NULL || connect(q->fd, to, r->conf.server_len[server]) < 0 ||
        send(q->fd, buf, n, 0) < 0) {
        int e = errno;
        char srv[INET6_ADDRSTRLEN + 16], detail[INET6_ADDRSTRLEN + 80];
        server_text(r, server, srv, sizeof(srv));
        snprintf(detail, sizeof(detail), "%s: %s", srv, strerror(e));
        next_server(q, "DNS: cannot reach name server %s", detail);
        return;
    }
    r->sent++;
    event_add(q->rd, NULL);
    struct timeval tv = { r->conf.timeout_ms / 1000, (r->conf.timeout_ms % 1000) * 1000 };
    evtimer_add(q->timer, &tv);
}

static void answered(sc_resolve_t *q, int rcode, const sc_dns_rr_t *rrs, int n)
{
    if (rcode == 3) {
        snprintf(q->whybuf, sizeof(q->whybuf), "DNS: no such domain %s", subject(q));
        q->why = q->whybuf;
    }
    on_answer(q, rrs, n);
}

static void on_hit(evutil_socket_t fd, short what, void *arg)
{
    sc_resolve_t *q = arg;
    (void)fd;
    (void)what;
    answered(q, q->ans_rcode, q->ans, q->nans);
}

static void query(sc_resolve_t *q, const char *name, sc_dns_type_t type)
{
    snprintf(q->qname, sizeof(q->qname), "%s", name);
    q->qtype = type;
    q->tries = 0;
    q->first = q->r->good;
    int k = sc_dns_cache_get(q->r->cache, q->qname, type, now_ms(), &q->ans_rcode, q->ans, 32);
    if (k >= 0) {
        q->r->cached++;
        q->nans = k;
        event_active(q->hit, EV_TIMEOUT, 0);
        return;
    }
    evutil_secure_rng_get_bytes(&q->id, sizeof(q->id));
    if (q->r->conf.nservers == 0) {
        give_up(q, "DNS: %s", "no name server configured");
        return;
    }
    send_query(q);
}

static const char *rcode_name(int rcode)
{
    static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };
    return rcode >= 0 && rcode < 6 ? names[rcode] : "an error";
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    sc_resolve_t *q = arg;
    uint8_t buf[4096];
    sc_dns_rr_t rrs[32];
    int rcode;
    (void)what;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    int e = errno;
    if (n < 0 && e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
        /* ICMP port (or host) unreachable for our query: nobody serves
         * DNS there */
        char srv[INET6_ADDRSTRLEN + 16], detail[INET6_ADDRSTRLEN + 80];
        server_text(q->r, (q->first + q->tries) % (unsigned)q->r->conf.nservers, srv, sizeof(srv));
        snprintf(detail, sizeof(detail), "%s: %s", srv, strerror(e));
        next_server(q, "DNS: name server unreachable (%s)", detail);
        return;
    }
    if (n <= 0)
        return;
    int k = sc_dns_parse(buf, (size_t)n, q->id, &rcode, rrs, 32);
    if (k < 0)
        return;                 /* not the answer: keep waiting */
    bool truncated = buf[2] & 0x02;
    if (truncated && k == 0)
        sc_log(SC_LOG_WARN, "dns: truncated answer for %s (DNS over TCP not done)", q->qname);
    if (rcode != 0 && rcode != 3) {
        char srv[INET6_ADDRSTRLEN + 16], detail[INET6_ADDRSTRLEN + 80];
        server_text(q->r, (q->first + q->tries) % (unsigned)q->r->conf.nservers, srv, sizeof(srv));
        snprintf(detail, sizeof(detail), "%s answered %s", srv, rcode_name(rcode));
        next_server(q, "DNS: name server %s", detail);
        return;
    }
    query_stop(q);
    const sc_dns_conf_t *c = &q->r->conf;
    q->r->good = (q->first + q->tries) % (unsigned)c->nservers;    /* it answers: ask it first */
    if (!truncated)             /* a part of an answer is not kept as the whole */
        sc_dns_cache_put(q->r->cache, q->qname, q->qtype, rcode, rrs, k,
                         sc_dns_answer_ttl(rcode, rrs, k, sc_dns_negative_ttl(buf, (size_t)n),
                                           c->negative_ttl, c->max_ttl),
                         now_ms());
    answered(q, rcode, rrs, k);
}

/* What one query may cost at most, and so the whole resolution. */
static unsigned budget_ms(const sc_resolver_t *r)
{
    unsigned n = r->conf.nservers ? (unsigned)r->conf.nservers : 1;
    return r->conf.timeout_ms * r->conf.attempts * n;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    sc_resolve_t *q = arg;
    (void)fd;
    (void)what;
    char detail[64];
    snprintf(detail, sizeof(detail), "%u ms", budget_ms(q->r));
    /* the first query's last try due now too: the servers said nothing */
    bool silent = q->rd && q->tries + 1 >= q->r->conf.attempts * (unsigned)q->r->conf.nservers;
    give_up(q, silent ? TIMEOUT_WHY ": no answer from the name servers within %s"
                      : TIMEOUT_WHY ": resolution not done within %s", detail);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    sc_resolve_t *q = arg;
    (void)fd;
    (void)what;
    if (++q->tries < q->r->conf.attempts * (unsigned)q->r->conf.nservers) {
        send_query(q);
        return;
    }
    char detail[64];
    snprintf(detail, sizeof(detail), "%u ms", budget_ms(q->r));
    give_up(q, TIMEOUT_WHY ": no answer from the name servers within %s", detail);
}

/* --- RFC 3263 §4 ---------------------------------------------------------- */

/* Addresses through a union: writing a sockaddr_in and reading the
 * sockaddr_storage it lies in is what strict aliasing forbids. */
typedef union {
    struct sockaddr_storage ss;
    struct sockaddr_in      v4;
    struct sockaddr_in6     v6;
} addr_u;

static void add_target(sc_resolve_t *q, sc_tp_kind_t kind, const struct sockaddr_storage *a,
                       socklen_t len, uint16_t port)
{
    if (q->nout >= SC_MAX_TARGETS)
        return;
    addr_u u;
    memcpy(&u.ss, a, sizeof(u.ss));
    if (u.ss.ss_family == AF_INET)
        u.v4.sin_port = htons(port);
    else
        u.v6.sin6_port = htons(port);
    sc_target_t *t = &q->out[q->nout++];
    t->kind = kind;
    memcpy(&t->addr, &u.ss, sizeof(t->addr));
    t->len = len;
}

static void add_rr_target(sc_resolve_t *q, const hop_t *h, const sc_dns_rr_t *rr)
{
    addr_u u;
    memset(&u, 0, sizeof(u));
    if (rr->type == SC_DNS_A) {
        u.v4.sin_family = AF_INET;
        u.v4.sin_addr = rr->u.a;
        add_target(q, h->kind, &u.ss, sizeof(u.v4), h->port);
    } else if (rr->type == SC_DNS_AAAA) {
        u.v6.sin6_family = AF_INET6;
        u.v6.sin6_addr = rr->u.aaaa;
        add_target(q, h->kind, &u.ss, sizeof(u.v6), h->port);
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    sc_resolve_t *q = arg;
    (void)fd;
    (void)what;
    if (q->nout == 0 && q->why == NULL) {
        snprintf(q->whybuf, sizeof(q->whybuf), "DNS: no address for %s", q->host);
        q->why = q->whybuf;
    }
    q->cb(q->out, q->nout, q->nout ? NULL : q->why, q->arg);
    resolve_free(q);
}

static void finish(sc_resolve_t *q)
{
    query_stop(q);
    if (q->deadline)
        evtimer_del(q->deadline);
    if (q->hit)
        event_del(q->hit);          /* a cached answer not taken in yet: no more steps */
    event_active(q->done, EV_TIMEOUT, 0);       /* never from inside sc_resolve */
}

static const char *service_of(sc_tp_kind_t k)
{
    return k == SC_TP_TLS ? "_sips._tcp" : k == SC_TP_TCP ? "_sip._tcp" : "_sip._udp";
}

static void add_srv(sc_resolve_t *q, const char *name, sc_tp_kind_t kind)
{
    size_t n = strlen(name);
    if (q->nsrv < 4 && n < SC_DNS_NAME_MAX) {
        memcpy(q->srv[q->nsrv], name, n + 1);
        q->srv_kind[q->nsrv++] = kind;
    }
}

/* The SRV name of a transport at our host: "_sip._udp.example.com". */
static void add_srv_for(sc_resolve_t *q, sc_tp_kind_t kind)
{
    char name[SC_DNS_NAME_MAX + 16];
    int n = snprintf(name, sizeof(name), "%s.%s", service_of(kind), q->host);
    if (n > 0 && n < SC_DNS_NAME_MAX)
        add_srv(q, name, kind);
}

static void add_hop(sc_resolve_t *q, const char *name, uint16_t port, sc_tp_kind_t kind)
{
    if (q->nhops < SC_MAX_TARGETS) {
        hop_t *h = &q->hops[q->nhops++];
        snprintf(h->name, sizeof(h->name), "%s", name);
        h->port = port;
        h->kind = kind;
    }
}

/* The next thing to ask: an address of the next hop, else the next SRV
 * name, else (no SRV at all) the host itself. */
static void step(sc_resolve_t *q)
{
    while (q->hop_at < q->nhops) {
        hop_t *h = &q->hops[q->hop_at];
        struct sockaddr_storage a;
        socklen_t len;
        int found = 0;
        if (!q->tried_aaaa && sc_hosts_lookup(q->r->conf.hosts_file, h->name, 0, &a, &len) == 0) {
            add_target(q, h->kind, &a, len, h->port);
            q->hop_at++;
            continue;
        }
        for (int i = 0; i < q->nextra && !q->tried_aaaa; i++)
            if (strcasecmp(q->extra[i].name, h->name) == 0) {
                add_rr_target(q, h, &q->extra[i]);
                found++;
            }
        if (found) {
            q->hop_at++;
            continue;
        }
        query(q, h->name, q->tried_aaaa ? SC_DNS_AAAA : SC_DNS_A);
        return;
    }
    if (q->nhops > 0) {
        finish(q);
        return;
    }
    if (q->srv_at < q->nsrv) {
        query(q, q->srv[q->srv_at], SC_DNS_SRV);
        return;
    }
    /* §4.2: no SRV: the host's own address, default port */
    sc_tp_kind_t k = q->nsrv ? q->srv_kind[0] : SC_TP_UDP;
    add_hop(q, q->host, default_port(k), k);
    step(q);
}

static int by_naptr_order(const void *a, const void *b)
{
    const sc_dns_rr_t *x = a, *y = b;
    if (x->u.naptr.order != y->u.naptr.order)
        return x->u.naptr.order < y->u.naptr.order ? -1 : 1;
    return x->u.naptr.preference < y->u.naptr.preference ? -1 : x->u.naptr.preference > y->u.naptr.preference;
}

static uint32_t rnd32(void)
{
    uint32_t v;
    evutil_secure_rng_get_bytes(&v, sizeof(v));
    return v;
}

static void on_answer(sc_resolve_t *q, const sc_dns_rr_t *rrs, int n)
{
    switch (q->qtype) {
    case SC_DNS_NAPTR: {
        /* §4.1: the services we can use, by order and preference */
        sc_dns_rr_t use[16];
        int k = 0;
        for (int i = 0; i < n && k < 16; i++) {
            const sc_dns_rr_t *rr = &rrs[i];
            if (rr->type != SC_DNS_NAPTR || strcmp(rr->u.naptr.flags, "s") != 0)
                continue;
            if (strcasecmp(rr->u.naptr.service, "SIP+D2U") == 0 ||
                strcasecmp(rr->u.naptr.service, "SIP+D2T") == 0 ||
                (q->tls && strcasecmp(rr->u.naptr.service, "SIPS+D2T") == 0))
                use[k++] = *rr;
        }
        qsort(use, (size_t)k, sizeof(use[0]), by_naptr_order);
        for (int i = 0; i < k; i++)
            add_srv(q, use[i].u.naptr.replacement,
                    strcasecmp(use[i].u.naptr.service, "SIP+D2U") == 0 ? SC_TP_UDP
                    : strcasecmp(use[i].u.naptr.service, "SIP+D2T") == 0 ? SC_TP_TCP : SC_TP_TLS);
        if (k == 0) {           /* no NAPTR: SRV for each transport we have */
            static const sc_tp_kind_t kinds[] = { SC_TP_UDP, SC_TP_TCP, SC_TP_TLS };
            for (int i = 0; i < 3; i++)
                if (kinds[i] != SC_TP_TLS || q->tls)
                    add_srv_for(q, kinds[i]);
        }
        break;
    }
    case SC_DNS_SRV: {
        sc_dns_rr_t srv[16];
        int k = 0;
        q->nextra = 0;
        for (int i = 0; i < n; i++) {
            if (rrs[i].type == SC_DNS_SRV && k < 16 && strcmp(rrs[i].u.srv.target, "") != 0)
                srv[k++] = rrs[i];
            else if ((rrs[i].type == SC_DNS_A || rrs[i].type == SC_DNS_AAAA) && q->nextra < 16)
                q->extra[q->nextra++] = rrs[i];
        }
        sc_dns_srv_sort(srv, k, rnd32);
        for (int i = 0; i < k; i++)
            add_hop(q, srv[i].u.srv.target, srv[i].u.srv.port, q->srv_kind[q->srv_at]);
        q->srv_at++;
        break;
    }
    default: {              /* A, then AAAA when A gave nothing */
        hop_t *h = &q->hops[q->hop_at];
        int found = 0;
        for (int i = 0; i < n; i++)
            if (rrs[i].type == q->qtype && strcasecmp(rrs[i].name, h->name) == 0) {
                add_rr_target(q, h, &rrs[i]);
                found++;
            }
        /* (a CNAME chain answered with the final A is taken too) */
        for (int i = 0; i < n && !found; i++)
            if (rrs[i].type == q->qtype) {
                add_rr_target(q, h, &rrs[i]);
                found++;
            }
        if (!found && !q->tried_aaaa) {
            q->tried_aaaa = true;
            break;
        }
        q->tried_aaaa = false;
        q->hop_at++;
        break;
    }
    }
    step(q);
}

sc_resolve_t *sc_resolve(sc_resolver_t *r, const sc_uri_t *uri, bool tls, sc_resolved_cb cb,
                         void *arg)
{
    sc_resolve_t *q = calloc(1, sizeof(*q));
    if (q == NULL || uri->host.len == 0 || uri->host.len >= sizeof(q->host)) {
        free(q);
        return NULL;
    }
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    q->fd = -1;
    q->tls = tls;
    for (size_t i = 0; i < uri->host.len; i++)
        q->host[i] = (char)tolower((unsigned char)uri->host.s[i]);
    q->timer = evtimer_new(r->base, on_timeout, q);
    q->done = event_new(r->base, -1, 0, on_done, q);
    q->hit = event_new(r->base, -1, 0, on_hit, q);
    q->deadline = evtimer_new(r->base, on_deadline, q);
    if (q->timer == NULL || q->done == NULL || q->hit == NULL || q->deadline == NULL) {
        if (q->timer)
            event_free(q->timer);
        if (q->done)
            event_free(q->done);
        if (q->hit)
            event_free(q->hit);
        if (q->deadline)
            event_free(q->deadline);
        free(q);
        return NULL;
    }
    /* however many queries it takes, never longer than one may */
    unsigned b = budget_ms(r);
    struct timeval tv = { b / 1000, (b % 1000) * 1000 };
    evtimer_add(q->deadline, &tv);
    sc_list_push(&r->pending, &q->link);
    bool sips = uri->scheme == SC_URI_SIPS;
    bool has_tp = uri->transport.len > 0;
    sc_tp_kind_t kind = sips || sc_str_caseeq_c(uri->transport, "tls") ? SC_TP_TLS
                      : sc_str_caseeq_c(uri->transport, "tcp")          ? SC_TP_TCP
                                                                       : SC_TP_UDP;
    struct sockaddr_storage a;
    socklen_t len;
    if (to_sockaddr(q->host, 0, &a, &len) == 0) {           /* numeric: no DNS */
        add_target(q, kind, &a, len, uri->port ? uri->port : default_port(kind));
        finish(q);
    } else if (uri->port || sc_hosts_lookup(r->conf.hosts_file, q->host, 0, &a, &len) == 0) {
        /* §4.2: A/AAAA only; a name of the hosts file: from it alone */
        if (!uri->port)
            sc_log(SC_LOG_DEBUG, "dns: %s from %s, no NAPTR/SRV", q->host, r->conf.hosts_file);
        add_hop(q, q->host, uri->port ? uri->port : default_port(kind), kind);
        step(q);
    } else if (has_tp || sips) {                            /* §4.2: SRV of that transport */
        add_srv_for(q, kind);
        step(q);
    } else {                                                /* §4.1: NAPTR first */
        query(q, q->host, SC_DNS_NAPTR);
    }
    return q;
}
