/*
 * transport_tcp.c — TCP and TLS listeners (RFC 3261 §18.3, §26.2.1): the
 * same stream handling, TLS only adding OpenSSL under the bufferevent.
 * Messages are framed by
 * Content-Length across partial reads and several per read, keep-alive
 * per RFC 5626 §3.5.1 (a CRLF CRLF ping is answered with a CRLF pong),
 * an idle timeout, and a cap on open connections.
 *
 * A framing error is unrecoverable on a stream (RFC 4475 §3.1.2.3): the
 * connection is closed, since no later octet can be trusted to start a
 * message.
 */
#include "transport_impl.h"

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

/* Ownership: the listener's list holds each open connection; a request
 * answered later holds a reference (sc_conn_ref).  Closing frees the
 * socket at once and the struct when the last reference goes. */
struct sc_conn {
    sc_listener_t      *l;
    struct bufferevent *bev;        /* NULL once closed */
    unsigned            refs;
    sc_peer_t           peer;
    sc_conn_t          *prev, *next;
    sc_tp_set_t        *set;        /* indexed in it while open */
    sc_tp_set_t        *owner;      /* the set, open or closed */
    sc_conn_t          *inext;
};

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
    bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->refs == 0)
        free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    sc_conn_t *c = arg;
    sc_listener_t *l = c->l;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return;
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
            if (want == 2 && memcmp(p, "\r\n", 2) == 0)
                return;     /* maybe half a ping: wait for what follows */
            evbuffer_drain(in, p[0] == '\r' && want >= 2 && p[1] == '\n' ? 2 : 1);
            continue;
        }
        sc_parse_err_t err;
        long n = sc_msg_frame(p, want, &l->opts.limits, &err);
        if (n == 0)
            return;
        if (n < 0) {
            sc_log(SC_LOG_INFO, "tcp %s:%u: %s; closing", c->peer.ip, c->peer.port, err.reason);
            conn_close(c, err.reason);
            return;
        }
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

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    sc_conn_t *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;                 /* connected, or a TLS handshake completed */
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

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *addr,
                      int alen, void *arg)
{
    sc_listener_t *l = arg;
    (void)lev;
    if (l->nconns >= l->opts.max_connections) {
        sc_log(SC_LOG_WARN, "tcp: connection limit (%u) reached; refusing a connection",
               l->opts.max_connections);
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
}

const sc_listener_t *sc_conn_listener(const sc_conn_t *c) { return c->l; }

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
    SSL_CTX_free(l->ssl_ctx);       /* connections hold their own references */
    SSL_CTX_free(l->client_ctx);
    free(l);
}

void sc_tcp_pause(sc_listener_t *l)
{
    evconnlistener_disable(l->lev);
    for (sc_conn_t *c = l->conns; c; c = c->next)
        bufferevent_disable(c->bev, EV_READ);
}

int sc_tcp_send(sc_conn_t *c, const char *buf, size_t len)
{
    return c->bev ? bufferevent_write(c->bev, buf, len) : -1;
}
