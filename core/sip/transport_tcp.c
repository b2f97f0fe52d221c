/*
 * transport_tcp.c — TCP and TLS listeners (RFC 3261 §18.3, §26.2.1): the
 * same stream handling, TLS only adding OpenSSL under the bufferevent.
 * Messages are framed by
 * Content-Length across partial reads and several per read, keep-alive
 * per RFC 5626 §3.5.1 (a CRLF CRLF ping is answered with a CRLF pong),
 * an idle timeout, and a cap on open connections.
 *
 * Connection slots cannot be hoarded (the accepted side only; what we
 * open ourselves is not guarded):
 *  - a source (an IPv4 address, or an IPv6 /64: a host picks freely
 *    among the addresses of its /64) may hold max_per_source accepted
 *    connections of a listener; more are closed at once;
 *  - a message must be complete within message_timeout_s of its first
 *    octet (slow headers or bodies), a TLS handshake within
 *    tls_handshake_timeout_s of the accept: a per-connection timer, as
 *    the idle timeout restarts with every octet and a drip keeps it
 *    away;
 *  - once a complete message has arrived on a connection it is
 *    "proven" (a phone that registered, or a peer that sent anything at
 *    all, has done so; a hoarder that only opens connections has not).
 *    When the listener holds 90% of max_connections, a new connection
 *    closes the least recently active unproven one instead of being
 *    refused; at the limit with none unproven, it closes the least
 *    recently active connection of the source holding the most, when
 *    that source holds more than the newcomer's would; else the
 *    newcomer is refused.  So a host opening thousands of idle, slow or
 *    half-handshaken connections never keeps another host out: its
 *    connections go first, and it cannot hold more than its share.
 *  - out of file descriptors (the process's limit below what
 *    max_connections allows), the oldest unproven connection makes room
 *    for the one waiting; with none, accepting pauses 100 ms at a time
 *    (on_accept_error);
 *  - its log says so once a second at most per listener (guard_log).
 *  Per accept this costs a hash lookup and list links, O(1); only the
 *  last resort (at the limit, every connection proven) walks the table
 *  of sources.
 *
 * A framing error is unrecoverable on a stream (RFC 4475 §3.1.2.3): the
 * connection is closed, since no later octet can be trusted to start a
 * message.
 */
#include "transport_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sc_log.h"
#include "sc_metrics.h"

/* Ownership: the listener's list holds each open connection; a request
 * answered later holds a reference (sc_conn_ref).  Closing frees the
 * socket at once and the struct when the last reference goes. */
struct sc_conn {
    sc_listener_t      *l;
    struct bufferevent *bev;        /* NULL once closed */
    unsigned            refs;
    sc_peer_t           peer;
    sc_ip_t             local;      /* our end (getsockname): what a wildcard
                                       listener's Via and Contact name */
    sc_conn_t          *prev, *next;
    sc_tp_set_t        *set;        /* indexed in it while open */
    sc_tp_set_t        *owner;      /* the set, open or closed */
    sc_conn_t          *inext;
    /* accepted connections only: the hoarding guard */
    struct sc_src      *src;        /* its source; NULL for those we open */
    sc_conn_t          *sprev, *snext;  /* the source's, least recently active first */
    sc_conn_t          *uprev, *unext;  /* the listener's unproven, likewise */
    bool                proven;     /* a complete message has arrived on it */
    bool                handshaking;    /* TLS accepted, handshake not done */
    bool                armed;      /* deadline pending */
    bool                sent_request;   /* we sent a request over it */
    struct event       *deadline;   /* handshake or message timeout */
};

/* --- sources of accepted connections --------------------------------- */

#define SC_SRC_BUCKETS 1024
typedef struct sc_src {
    unsigned char  key[9];      /* 4 + IPv4 address, or 6 + the /64 prefix */
    unsigned       n;           /* open connections */
    sc_conn_t     *head, *tail;
    struct sc_src *next;
} sc_src_t;

static void src_key(const struct sockaddr *a, unsigned char key[9])
{
    memset(key, 0, 9);
    if (a->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr, 8);
    } else {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)(const void *)a)->sin_addr, 4);
    }
}

/* The link that points at the source of key (or at the NULL that ends
 * its bucket); the buckets are allocated here the first time. */
static sc_src_t **src_slot(sc_listener_t *l, const unsigned char key[9])
{
    if (l->srcs == NULL && (l->srcs = calloc(SC_SRC_BUCKETS, sizeof(*l->srcs))) == NULL)
        return NULL;
    uint32_t h = 2166136261u;
    for (int i = 0; i < 9; i++)
        h = (h ^ key[i]) * 16777619u;
    sc_src_t **p = &l->srcs[h % SC_SRC_BUCKETS];
    while (*p && memcmp((*p)->key, key, 9) != 0)
        p = &(*p)->next;
    return p;
}

static void unproven_unlink(sc_listener_t *l, sc_conn_t *c)
{
    if (c->uprev)
        c->uprev->unext = c->unext;
    else
        l->unproven = c->unext;
    if (c->unext)
        c->unext->uprev = c->uprev;
    else
        l->unproven_tail = c->uprev;
    c->uprev = c->unext = NULL;
}

static void unproven_append(sc_listener_t *l, sc_conn_t *c)
{
    c->unext = NULL;
    c->uprev = l->unproven_tail;
    if (l->unproven_tail)
        l->unproven_tail->unext = c;
    else
        l->unproven = c;
    l->unproven_tail = c;
}

static void src_unlink(sc_src_t *s, sc_conn_t *c)
{
    if (c->sprev)
        c->sprev->snext = c->snext;
    else
        s->head = c->snext;
    if (c->snext)
        c->snext->sprev = c->sprev;
    else
        s->tail = c->sprev;
    c->sprev = c->snext = NULL;
}

static void src_append(sc_src_t *s, sc_conn_t *c)
{
    c->snext = NULL;
    c->sprev = s->tail;
    if (s->tail)
        s->tail->snext = c;
    else
        s->head = c;
    s->tail = c;
}

/* Counts an accepted connection for its source; false when out of
 * memory (it is then closed). */
static bool guard_add(sc_listener_t *l, sc_conn_t *c)
{
    unsigned char key[9];
    src_key((struct sockaddr *)&c->peer.addr, key);
    sc_src_t **p = src_slot(l, key);
    if (p == NULL)
        return false;
    if (*p == NULL) {
        if ((*p = calloc(1, sizeof(**p))) == NULL)
            return false;
        memcpy((*p)->key, key, 9);
    }
    c->src = *p;
    c->src->n++;
    src_append(c->src, c);
    unproven_append(l, c);
    return true;
}

static void guard_remove(sc_conn_t *c)
{
    sc_src_t *s = c->src;
    if (s == NULL)
        return;
    src_unlink(s, c);
    if (!c->proven)
        unproven_unlink(c->l, c);
    c->src = NULL;
    if (--s->n == 0) {
        sc_src_t **p = src_slot(c->l, s->key);
        if (p && *p == s)
            *p = s->next;
        free(s);
    }
}

/* Octets arrived: c becomes its source's (and, unproven, the
 * listener's) most recently active. */
static void guard_touch(sc_conn_t *c)
{
    if (c->src == NULL)
        return;
    if (c->src->tail != c) {
        src_unlink(c->src, c);
        src_append(c->src, c);
    }
    if (!c->proven && c->l->unproven_tail != c) {
        unproven_unlink(c->l, c);
        unproven_append(c->l, c);
    }
}

static void guard_prove(sc_conn_t *c)
{
    if (c->src && !c->proven)
        unproven_unlink(c->l, c);
    c->proven = true;
}

/* The source holding the most connections (the last resort: a walk). */
static sc_src_t *src_heaviest(const sc_listener_t *l)
{
    sc_src_t *best = NULL;
    for (size_t b = 0; l->srcs && b < SC_SRC_BUCKETS; b++)
        for (sc_src_t *s = l->srcs[b]; s; s = s->next)
            if (best == NULL || s->n > best->n)
                best = s;
    return best;
}

/* The guard's log: one line a second at most per listener (a flood of
 * connections must not become a flood of lines), saying how many went
 * unsaid. */
static void guard_log(sc_listener_t *l, sc_log_level_t lv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void guard_log(sc_listener_t *l, sc_log_level_t lv, const char *fmt, ...)
{
    if (lv > sc_log_level)
        return;
    time_t now = time(NULL);
    if (now == l->guard_said) {
        l->guard_quiet++;
        return;
    }
    char line[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (l->guard_quiet)
        sc_log_write(lv, "%s (and %u more connections closed or refused since the last such line)", line,
                     l->guard_quiet);
    else
        sc_log_write(lv, "%s", line);
    l->guard_said = now;
    l->guard_quiet = 0;
}

static void count_close(const sc_listener_t *l, const char *name, const char *help,
                        const char *reason)
{
    sc_metric_add(sc_metric_kv(SC_METRIC_COUNTER, name, help, "transport", sc_tp_name(l->kind),
                               "reason", reason), 1);
}

/* --- the index of open connections by peer --------------------------- */

static size_t bucket_of(sc_tp_kind_t kind, const struct sockaddr *a)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    const unsigned char *p;
    size_t n;
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const void *)a;
        p = (const unsigned char *)&v6->sin6_addr;
        n = sizeof(v6->sin6_addr);
        h = (h ^ v6->sin6_port) * 16777619u;
    } else {
        const struct sockaddr_in *v4 = (const void *)a;
        p = (const unsigned char *)&v4->sin_addr;
        n = sizeof(v4->sin_addr);
        h = (h ^ v4->sin_port) * 16777619u;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % SC_CONN_BUCKETS;
}

static void index_add(sc_tp_set_t *set, sc_conn_t *c)
{
    size_t b = bucket_of(c->l->kind, (struct sockaddr *)&c->peer.addr);
    c->set = set;
    c->inext = set->index[b];
    set->index[b] = c;
}

static void index_remove(sc_conn_t *c)
{
    if (c->set == NULL)
        return;
    size_t b = bucket_of(c->l->kind, (struct sockaddr *)&c->peer.addr);
    for (sc_conn_t **p = &c->set->index[b]; *p; p = &(*p)->inext)
        if (*p == c) {
            *p = c->inext;
            break;
        }
    c->set = NULL;
}

sc_conn_t *sc_conn_find(sc_tp_set_t *set, sc_tp_kind_t kind, const struct sockaddr *to)
{
    for (sc_conn_t *c = set->index[bucket_of(kind, to)]; c; c = c->inext)
        if (c->l->kind == kind && c->bev && sc_sockaddr_eq((struct sockaddr *)&c->peer.addr, to))
            return c;
    return NULL;
}

void sc_conn_ref(sc_conn_t *c)
{
    c->refs++;
}

void sc_conn_unref(sc_conn_t *c)
{
    if (--c->refs == 0 && c->bev == NULL)
        free(c);
}

static void conn_close(sc_conn_t *c, const char *why)
{
    sc_listener_t *l = c->l;
    if (c->bev == NULL)
        return;
    sc_log(SC_LOG_DEBUG, "tcp %s:%u closed: %s", c->peer.ip, c->peer.port, why);
    index_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->nconns--;
    guard_remove(c);
    if (c->deadline) {
        event_free(c->deadline);
        c->deadline = NULL;
        c->armed = false;
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->refs == 0)
        free(c);
}

/* The deadline of a connection: its TLS handshake, or the message whose
 * first octets have arrived. */
static void on_deadline(evutil_socket_t fd, short what, void *arg);

static void deadline_arm(sc_conn_t *c, unsigned secs)
{
    if (secs == 0 || c->src == NULL)
        return;
    if (c->deadline == NULL && (c->deadline = evtimer_new(c->l->base, on_deadline, c)) == NULL)
        return;
    struct timeval tv = { .tv_sec = secs };
    if (evtimer_add(c->deadline, &tv) == 0)
        c->armed = true;
}

static void deadline_clear(sc_conn_t *c)
{
    if (c->armed) {
        evtimer_del(c->deadline);
        c->armed = false;
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    sc_conn_t *c = arg;
    sc_listener_t *l = c->l;
    struct evbuffer *in = bufferevent_get_input(bev);
    guard_touch(c);
    c->handshaking = false;     /* data: the handshake is done (CONNECTED said so too) */
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0) {
            deadline_clear(c);      /* nothing begun */
            return;
        }
        /* Enough contiguous octets to decide: a message can never be
         * longer than max_size, and the framer says 513 beyond it. */
        size_t want = len < l->opts.limits.max_size + 1 ? len : l->opts.limits.max_size + 1;
        char *p = (char *)evbuffer_pullup(in, (ssize_t)want);
        if (p[0] == '\r' || p[0] == '\n') {
            if (want >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
                evbuffer_drain(in, 4);
                bufferevent_write(bev, "\r\n", 2);      /* pong */
                continue;
            }
            if (want == 2 && memcmp(p, "\r\n", 2) == 0) {
                /* maybe half a ping: wait for what follows (a lone CRLF
                 * keep-alive is no message begun: no deadline) */
                deadline_clear(c);
                return;
            }
            evbuffer_drain(in, p[0] == '\r' && want >= 2 && p[1] == '\n' ? 2 : 1);
            continue;
        }
        sc_parse_err_t err;
        long n = sc_msg_frame(p, want, &l->opts.limits, &err);
        if (n == 0) {
            /* a message begun: it has message_timeout_s from its first
             * octet, however slowly the rest drips in */
            if (!c->armed)
                deadline_arm(c, l->opts.message_timeout_s);
            return;
        }
        if (n < 0) {
            sc_log(SC_LOG_INFO, "tcp %s:%u: %s; closing", c->peer.ip, c->peer.port, err.reason);
            conn_close(c, err.reason);
            return;
        }
        deadline_clear(c);
        guard_prove(c);
        /* parsed in place, in the buffer's own memory; drained after */
        sc_source_t src = { .kind = l->kind, .conn = c, .peer = c->peer };
        sc_conn_ref(c);         /* the callback may close it */
        l->cb(&src, p, (size_t)n, l->arg);
        bool gone = c->bev == NULL;
        sc_conn_unref(c);
        if (gone)
            return;
        evbuffer_drain(in, (size_t)n);
    }
}

/* Closes c as the server's decision (not the peer's): the requests we
 * sent over it learn it is gone.  Only when there were any: that
 * callback walks every transaction, and a hoarder's connections, closed
 * by the thousand, carried none. */
static void conn_drop(sc_conn_t *c, const char *why)
{
    sc_tp_set_t *set = c->set;
    bool tell = c->sent_request;
    sc_conn_ref(c);
    conn_close(c, why);
    if (tell && set && set->lost)
        set->lost(set->lost_arg, c);
    sc_conn_unref(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    sc_conn_t *c = arg;
    (void)fd;
    (void)what;
    c->armed = false;
    const char *reason = c->handshaking ? "tls_handshake_timeout" : "message_timeout";
    guard_log(c->l, SC_LOG_INFO, "%s %s:%u: %s; closing", sc_tp_name(c->l->kind), c->peer.ip,
              c->peer.port,
              c->handshaking ? "TLS handshake not complete in time" : "message not complete in time");
    count_close(c->l, "sipchain_connections_closed_total",
                "accepted TCP/TLS connections closed by the hoarding guard", reason);
    conn_drop(c, reason);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    sc_conn_t *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        /* connected, or a TLS handshake completed */
        if (c->handshaking) {
            c->handshaking = false;
            deadline_clear(c);
        }
        return;
    }
    sc_tp_set_t *set = c->set;
    unsigned long tls_err = bufferevent_get_openssl_error(bev);
    if (tls_err) {
        char why[256];
        ERR_error_string_n(tls_err, why, sizeof(why));
        sc_log(SC_LOG_WARN, "%s %s:%u: %s", sc_tp_name(c->l->kind), c->peer.ip, c->peer.port, why);
    }
    sc_conn_ref(c);
    conn_close(c, (what & BEV_EVENT_TIMEOUT) ? "idle timeout"
                  : (what & BEV_EVENT_EOF)   ? "closed by peer"
                                             : "error (refused, reset, or TLS handshake failed)");
    if (set && set->lost && !(what & BEV_EVENT_TIMEOUT))
        set->lost(set->lost_arg, c);
    sc_conn_unref(c);
}

static void conn_attach(sc_listener_t *l, sc_conn_t *c, struct bufferevent *bev,
                        const struct sockaddr *addr, socklen_t alen, sc_tp_set_t *set);

/* Room for a connection from addr: true, having closed another when
 * the limit is near (see the top of this file); false (counted, logged)
 * when it must be refused. */
static bool admit(sc_listener_t *l, const struct sockaddr *addr)
{
    unsigned char key[9];
    src_key(addr, key);
    sc_src_t **p = src_slot(l, key);
    unsigned mine = p && *p ? (*p)->n : 0;
    unsigned max = l->opts.max_connections;
    if (l->opts.max_per_source && mine >= l->opts.max_per_source) {
        sc_peer_t who = { .len = 0 };
        memcpy(&who.addr, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in));
        sc_peer_describe(&who);
        guard_log(l, SC_LOG_INFO, "%s: %s holds %u connections (max_connections_per_source); "
                  "refusing another", sc_tp_name(l->kind), who.ip, mine);
        count_close(l, "sipchain_connections_refused_total",
                    "accepted TCP/TLS connections closed at once", "max_connections_per_source");
        return false;
    }
    sc_conn_t *victim = NULL;
    if (l->nconns >= max - max / 10 && l->unproven)
        victim = l->unproven;
    else if (l->nconns >= max) {
        sc_src_t *h = src_heaviest(l);
        if (h && h->n > mine + 1)
            victim = h->head;
    }
    if (victim) {
        guard_log(l, SC_LOG_INFO, "%s %s:%u: closed to make room (%s connection, limit near)",
                  sc_tp_name(l->kind), victim->peer.ip, victim->peer.port,
                  victim->proven ? "the busiest source's oldest" : "the oldest unproven");
        count_close(l, "sipchain_connections_closed_total",
                    "accepted TCP/TLS connections closed by the hoarding guard",
                    victim->proven ? "evicted_busiest_source" : "evicted_unproven");
        conn_drop(victim, "evicted to make room");
        return true;
    }
    if (l->nconns >= max) {
        guard_log(l, SC_LOG_WARN, "tcp: connection limit (%u) reached; refusing a connection", max);
        count_close(l, "sipchain_connections_refused_total",
                    "accepted TCP/TLS connections closed at once", "max_connections");
        return false;
    }
    return true;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    sc_listener_t *l = arg;
    (void)fd;
    (void)what;
    if (!l->paused)
        evconnlistener_enable(l->lev);
}

/* accept() failed.  Out of descriptors (the process's open file limit
 * below what max_connections allows): the oldest unproven connection
 * of this listener, else of another of its set, makes room, and the
 * connection waiting is accepted on the next round; with none, or on
 * another error, accepting pauses 100 ms, since the waiting connection
 * keeps the socket readable and the loop would spin on it. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    sc_listener_t *l = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE) {
        /* Linux takes the descriptor before it looks at the queue: the
         * last free one taken, the accept loop's next try fails so with
         * nobody waiting.  Nothing to do then (the socket is not
         * readable: no spin). */
        struct pollfd pfd = { .fd = evconnlistener_get_fd(lev), .events = POLLIN };
        if (poll(&pfd, 1, 0) == 0)
            return;
        sc_conn_t *victim = l->unproven;
        for (int i = 0; victim == NULL && l->set && i < l->set->nls; i++)
            victim = l->set->ls[i]->unproven;
        if (victim) {
            guard_log(l, SC_LOG_WARN, "%s: out of file descriptors; closing the oldest unproven "
                      "connection (%s:%u) to make room", sc_tp_name(l->kind), victim->peer.ip,
                      victim->peer.port);
            count_close(victim->l, "sipchain_connections_closed_total",
                        "accepted TCP/TLS connections closed by the hoarding guard", "evicted_fd_limit");
            conn_drop(victim, "evicted: out of file descriptors");
            return;
        }
    }
    guard_log(l, SC_LOG_WARN, "%s: accept: %s; pausing accepts for 100 ms", sc_tp_name(l->kind),
              evutil_socket_error_to_string(err));
    if (l->resume == NULL && (l->resume = evtimer_new(l->base, on_resume, l)) == NULL)
        return;
    struct timeval tv = { .tv_usec = 100000 };
    evconnlistener_disable(lev);
    evtimer_add(l->resume, &tv);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *addr,
                      int alen, void *arg)
{
    sc_listener_t *l = arg;
    (void)lev;
    if (!admit(l, addr)) {
        close(fd);
        return;
    }
    sc_conn_t *c = calloc(1, sizeof(*c));
    struct bufferevent *bev = NULL;
    if (c && l->ssl_ctx) {
        SSL *ssl = SSL_new(l->ssl_ctx);
        if (ssl)
            bev = bufferevent_openssl_socket_new(l->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
        if (ssl && bev == NULL)
            SSL_free(ssl);
    } else if (c) {
        bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev == NULL) {
        free(c);
        close(fd);
        return;
    }
    conn_attach(l, c, bev, addr, (socklen_t)alen, l->set);
    if (!guard_add(l, c)) {
        conn_close(c, "out of memory");
        return;
    }
    if (l->ssl_ctx) {
        c->handshaking = true;
        deadline_arm(c, l->opts.tls_handshake_timeout_s);
    }
}

const sc_listener_t *sc_conn_listener(const sc_conn_t *c) { return c->l; }

const sc_ip_t *sc_conn_local(const sc_conn_t *c) { return &c->local; }

sc_tp_set_t *sc_conn_owner(const sc_conn_t *c) { return c->owner; }

/* Links a new connection to its owner (and the set's index) and starts it. */
static void conn_attach(sc_listener_t *l, sc_conn_t *c, struct bufferevent *bev,
                        const struct sockaddr *addr, socklen_t alen, sc_tp_set_t *set)
{
    c->l = l;
    c->bev = bev;
    memcpy(&c->peer.addr, addr, alen);
    c->peer.len = alen;
    sc_peer_describe(&c->peer);
    /* accepted: the address it came to; ours connecting: the source the
     * kernel chose at connect() */
    socklen_t ll = sizeof(c->local);
    if (getsockname(bufferevent_getfd(bev), &c->local.sa, &ll) != 0)
        memset(&c->local, 0, sizeof(c->local));
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    c->owner = set;
    if (set)
        index_add(set, c);
    bufferevent_setcb(bev, on_read, NULL, on_event, c);
    if (l->opts.idle_timeout_s) {
        struct timeval tv = { .tv_sec = l->opts.idle_timeout_s };
        bufferevent_set_timeouts(bev, &tv, NULL);
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* The owner of the connections a set opens: a listener that listens on
 * nothing. */
static sc_listener_t *connector(sc_tp_set_t *set, sc_tp_kind_t kind)
{
    if (set->out[kind] == NULL) {
        sc_listener_t *l = calloc(1, sizeof(*l));
        if (l == NULL)
            return NULL;
        l->kind = kind;
        l->base = set->base;
        l->cb = set->cb;
        l->arg = set->arg;
        l->opts = set->opts;
        l->fd = -1;
        set->out[kind] = l;
    }
    return set->out[kind];
}

/* The client context for a TLS connection towards to: the tls:
 * listener of its family (its CA and verification settings, its
 * certificate as ours), else any tls: listener, else the system's CAs
 * with verification on. */
static SSL_CTX *client_ctx(sc_tp_set_t *set, const struct sockaddr *to, char *err, size_t errlen)
{
    SSL_CTX *any = NULL;
    for (int i = 0; i < set->nls; i++) {
        const sc_listener_t *l = set->ls[i];
        if (l->kind != SC_TP_TLS || l->client_ctx == NULL)
            continue;
        if (l->local.addr.ss_family == to->sa_family)
            return l->client_ctx;
        any = any ? any : l->client_ctx;
    }
    if (any == NULL && set->client_ctx == NULL)
        set->client_ctx = sc_tls_client_context(NULL, true, err, errlen);
    return any ? any : set->client_ctx;
}

/* A client SSL for a connection to host (a name: SNI and the name
 * checked against the certificate, RFC 5922 §7.2; an address or none:
 * the peer's address checked instead). */
static SSL *client_ssl(sc_tp_set_t *set, const struct sockaddr *to, const char *host, char *err,
                       size_t errlen)
{
    SSL_CTX *ctx = client_ctx(set, to, err, errlen);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (ssl == NULL) {
        if (ctx)
            snprintf(err, errlen, "cannot create a TLS session");
        return NULL;
    }
    sc_peer_t p = { .len = 0 };
    memcpy(&p.addr, to, to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    sc_peer_describe(&p);
    bool name = host && *host && strcmp(host, p.ip) != 0 && strchr(host, ':') == NULL &&
                strspn(host, "0123456789.") != strlen(host);
    int ok = name ? SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1
                  : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p.ip) == 1;
    if (!ok) {
        snprintf(err, errlen, "cannot set the TLS peer name %s", name ? host : p.ip);
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

sc_conn_t *sc_tcp_connect(sc_tp_set_t *set, sc_tp_kind_t kind, const struct sockaddr *to,
                          socklen_t len, const char *host, char *err, size_t errlen)
{
    sc_listener_t *l = connector(set, kind);
    if (l == NULL || l->nconns >= l->opts.max_connections) {
        snprintf(err, errlen, l ? "outbound connection limit reached" : "out of memory");
        return NULL;
    }
    SSL *ssl = NULL;
    if (kind == SC_TP_TLS && (ssl = client_ssl(set, to, host, err, errlen)) == NULL)
        return NULL;
    sc_conn_t *c = calloc(1, sizeof(*c));
    struct bufferevent *bev = NULL;
    if (c && ssl)
        bev = bufferevent_openssl_socket_new(set->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    else if (c)
        bev = bufferevent_socket_new(set->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        snprintf(err, errlen, "out of memory");
        SSL_free(ssl);
        free(c);
        return NULL;
    }
    if (bufferevent_socket_connect(bev, to, (int)len) != 0) {
        snprintf(err, errlen, "connect: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        bufferevent_free(bev);
        free(c);
        return NULL;
    }
    conn_attach(l, c, bev, to, len, set);
    sc_log(SC_LOG_DEBUG, "%s %s:%u: connecting%s%s", sc_tp_name(kind), c->peer.ip, c->peer.port,
           ssl && host ? " to " : "", ssl && host ? host : "");
    return c;
}

void sc_tcp_free_connector(sc_listener_t *l)
{
    while (l->conns)
        conn_close(l->conns, "server stopping");
    free(l);
}

sc_listener_t *sc_tcp_listen(struct event_base *base, const struct sockaddr *addr, socklen_t len,
                             const sc_tp_opts_t *opts, const sc_tls_opts_t *tls, sc_message_cb cb,
                             void *arg, char *err, size_t errlen)
{
    sc_listener_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->kind = tls ? SC_TP_TLS : SC_TP_TCP;
    if (tls && ((l->ssl_ctx = sc_tls_context(tls, err, errlen)) == NULL ||
                (l->client_ctx = sc_tls_listener_client_context(tls, err, errlen)) == NULL)) {
        SSL_CTX_free(l->ssl_ctx);
        free(l);
        return NULL;
    }
    l->cb = cb;
    l->arg = arg;
    l->base = base;
    l->opts = *opts;
    l->fd = -1;
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
    if (addr->sa_family == AF_INET6)
        flags |= LEV_OPT_BIND_IPV6ONLY;
    l->lev = evconnlistener_new_bind(base, on_accept, l, flags, 128, addr, (int)len);
    if (l->lev)
        evconnlistener_set_error_cb(l->lev, on_accept_error);
    if (l->lev == NULL) {
        snprintf(err, errlen, "bind: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        SSL_CTX_free(l->ssl_ctx);
        SSL_CTX_free(l->client_ctx);
        free(l);
        return NULL;
    }
    return l;
}

void sc_tcp_free(sc_listener_t *l)
{
    evconnlistener_free(l->lev);
    while (l->conns)
        conn_close(l->conns, "server stopping");
    free(l->srcs);                  /* empty now: every source went with its last connection */
    if (l->resume)
        event_free(l->resume);
    SSL_CTX_free(l->ssl_ctx);       /* connections hold their own references */
    SSL_CTX_free(l->client_ctx);
    free(l);
}

void sc_tcp_pause(sc_listener_t *l)
{
    l->paused = true;
    evconnlistener_disable(l->lev);
    for (sc_conn_t *c = l->conns; c; c = c->next)
        bufferevent_disable(c->bev, EV_READ);
}

int sc_tcp_send(sc_conn_t *c, const char *buf, size_t len)
{
    if (len < 8 || memcmp(buf, "SIP/2.0 ", 8) != 0)
        c->sent_request = true;     /* not a response */
    return c->bev ? bufferevent_write(c->bev, buf, len) : -1;
}
