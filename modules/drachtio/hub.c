/*
 * hub.c — the application side: a listener applications connect to
 * (srf.connect), connections we open to applications that listen
 * (srf.listen, outbound mode), the frames on them, authenticate, route /
 * remove_route, ping, and a dead connection found (TCP keep-alive, an
 * optional idle timeout) and cleaned up.  Either side may be TLS (srf's
 * tls options): libevent's OpenSSL bufferevents, the core's TLS policy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "drachtio.h"

static dr_hub_t *hubs;

/* --- lists and ids ---------------------------------------------------------- */

void dr_list_init(dr_link_t *l) { l->prev = l->next = l; }
void dr_list_add(dr_link_t *l, dr_link_t *n)
{
    n->next = l->next;
    n->prev = l;
    l->next->prev = n;
    l->next = n;
}
void dr_list_del(dr_link_t *n)
{
    if (n->next == NULL)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

static unsigned bucket(const char *id)
{
    unsigned h = 5381;
    for (; *id; id++)
        h = h * 33 + (unsigned char)*id;
    return h % DR_BUCKETS;
}

void dr_id_add(dr_hub_t *h, dr_entry_t *e)
{
    unsigned b = bucket(e->id);
    e->next = h->ids[b];
    h->ids[b] = e;
}

void dr_id_del(dr_hub_t *h, dr_entry_t *e)
{
    for (dr_entry_t **p = &h->ids[bucket(e->id)]; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            return;
        }
}

dr_entry_t *dr_id_find(dr_hub_t *h, const char *id, int kind)
{
    for (dr_entry_t *e = h->ids[bucket(id)]; e; e = e->next)
        if (e->kind == kind && strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

/* --- frames out ------------------------------------------------------------- */

void dr_send(dr_conn_t *c, const char *leader, sc_str_t sip)
{
    if (c && c->bev)
        dr_frame_add(bufferevent_get_output(c->bev), leader, sip, NULL);
}

void dr_reply(dr_conn_t *c, const char *msgid, const char *rest, sc_str_t sip)
{
    size_t n = strlen(msgid) + strlen(rest) + 16;
    char *leader = malloc(n);
    if (leader == NULL)
        return;
    snprintf(leader, n, "response|%s|%s", msgid, rest);
    dr_send(c, leader, sip);
    free(leader);
}

void dr_meta(char *out, size_t cap, const char *source, size_t bytes, const char *proto,
             const char *addr, unsigned port)
{
    char t[16];
    dr_time(t);
    snprintf(out, cap, "%s|%zu|%s|%s|%u|%s", source, bytes, proto, addr, port, t);
}

void dr_local(dr_hub_t *h, char *out, size_t cap)
{
    char all[512];
    out[0] = '\0';
    if (h->inst == NULL || sc_instance_listeners(h->inst, all, sizeof(all)) == 0)
        return;
    const char *s = strchr(all, '/');
    size_t n = s ? strcspn(s + 1, ",") : 0;
    if (s)
        snprintf(out, cap, "%.*s", (int)n, s + 1);
}

/* --- routes ------------------------------------------------------------------ */

bool dr_conn_routes(const dr_conn_t *c, const char *verb)
{
    for (int i = 0; i < c->nverbs; i++)
        if (strcasecmp(c->verbs[i], verb) == 0)
            return true;
    return false;
}

/* Whether the comma-separated list (srf's authenticate tags) has tag. */
static bool has_tag(const char *list, const char *tag)
{
    size_t n = strlen(tag);
    for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        if (strncmp(p, tag, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    }
    return false;
}

bool dr_hub_routed(const dr_hub_t *h, const char *verb)
{
    for (const dr_link_t *l = h->conns.next; l != &h->conns; l = l->next) {
        const dr_conn_t *c = DR_OF(l, dr_conn_t, link);
        if (c->authed && !c->outbound && dr_conn_routes(c, verb))
            return true;
    }
    return false;
}

dr_conn_t *dr_hub_pick(dr_hub_t *h, const char *verb, const char *tag)
{
    dr_conn_t *found[256];
    int n = 0;
    for (dr_link_t *l = h->conns.next; l != &h->conns && n < 256; l = l->next) {
        dr_conn_t *c = DR_OF(l, dr_conn_t, link);
        if (c->authed && !c->outbound && dr_conn_routes(c, verb) && (tag == NULL || has_tag(c->tags, tag)))
            found[n++] = c;
    }
    return n ? found[h->rr++ % (unsigned)n] : NULL;
}

/* --- connections ------------------------------------------------------------- */

static void conn_free(dr_conn_t *c)
{
    dr_hub_t *h = c->hub;
    dr_list_del(&c->link);
    if (c->handover) {              /* outbound: the app never took it */
        dr_txn_t *t = c->handover;
        c->handover = NULL;
        t->conn = NULL;
        dr_inbound_fail(t, 480, "Application unreachable");
    }
    dr_inbound_conn_gone(h, c);
    dr_outbound_conn_gone(h, c);
    if (c->idle)
        event_free(c->idle);
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

static void conn_close(dr_conn_t *c, const char *why)
{
    if (c->hub->inst)
        sc_instance_log(c->hub->inst, SC_LOG_LEVEL_INFO, "application %s: %s", c->peer, why);
    conn_free(c);
}

/* The last frame written, then closed (a refused authenticate). */
static void on_drained(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_close(arg, "wrong secret");
}

static void idle_arm(dr_conn_t *c)
{
    if (c->idle) {
        struct timeval tv = { .tv_sec = c->hub->conf.idle_timeout_s };
        evtimer_add(c->idle, &tv);
    }
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_close(arg, "idle timeout (nothing received, not even a ping)");
}

static void command(dr_conn_t *c, char *payload, size_t len)
{
    char *tok[DR_MAX_TOKENS];
    sc_str_t sip;
    int n = dr_tokens(payload, len, tok, DR_MAX_TOKENS, &sip);
    if (n < 2) {
        /* well framed, but no verb: NO, and the connection stays (only
         * framing errors and failed authentication end it) */
        if (c->authed)
            dr_reply(c, tok[0], "NO|a command needs a msgId and a verb", (sc_str_t){ 0 });
        else
            conn_close(c, "a frame with fewer than 2 tokens before authenticate");
        return;
    }
    const char *id = tok[0], *verb = tok[1];
    if (strcmp(verb, "authenticate") == 0) {
        const dr_conf_t *cf = &c->hub->conf;
        if (n < 3 || strcmp(tok[2], cf->secret) != 0) {
            dr_reply(c, id, "NO|incorrect secret", (sc_str_t){ 0 });
            bufferevent_disable(c->bev, EV_READ);
            bufferevent_setcb(c->bev, NULL, on_drained, NULL, c);
            return;
        }
        c->authed = true;
        snprintf(c->tags, sizeof(c->tags), "%s", n > 3 ? tok[3] : "");
        char hp[512] = "", rest[1200];
        if (c->hub->inst)
            sc_instance_listeners(c->hub->inst, hp, sizeof(hp));
        snprintf(rest, sizeof(rest), "OK|%s|%s|%s", hp, DR_VERSION, hp);
        dr_reply(c, id, rest, (sc_str_t){ 0 });
        if (c->handover) {
            dr_txn_t *t = c->handover;
            c->handover = NULL;
            dr_inbound_deliver(t);
        }
        return;
    }
    if (!c->authed) {
        conn_close(c, "a command before authenticate");
        return;
    }
    if (strcmp(verb, "ping") == 0) {
        dr_reply(c, id, "OK|pong", (sc_str_t){ 0 });
    } else if (strcmp(verb, "route") == 0 && n >= 3) {
        if (!dr_conn_routes(c, tok[2]) && c->nverbs < DR_MAX_VERBS)
            snprintf(c->verbs[c->nverbs++], sizeof(c->verbs[0]), "%s", tok[2]);
        dr_reply(c, id, "OK", (sc_str_t){ 0 });
    } else if (strcmp(verb, "remove_route") == 0 && n >= 3) {
        /* only that verb (drachtio-server removes every route) */
        for (int i = 0; i < c->nverbs; i++)
            if (strcasecmp(c->verbs[i], tok[2]) == 0) {
                memmove(c->verbs[i], c->verbs[i + 1], sizeof(c->verbs[0]) * (size_t)(c->nverbs - i - 1));
                c->nverbs--;
                break;
            }
        dr_reply(c, id, "OK", (sc_str_t){ 0 });
    } else if (strcmp(verb, "sip") == 0 && n >= 4) {
        dr_msg_t m;
        const char *why;
        if (dr_msg_parse(sip, &m, &why) != 0) {
            char rest[120];
            snprintf(rest, sizeof(rest), "NOK|unparsable SIP message: %s", why);
            dr_reply(c, id, rest, (sc_str_t){ 0 });
            return;
        }
        if (!m.is_request) {
            dr_entry_t *e = dr_id_find(c->hub, tok[2], DR_TXN);
            if (e == NULL) {
                dr_reply(c, id, "NOK|unknown transaction id (answered or timed out)", (sc_str_t){ 0 });
                return;
            }
            dr_app_response(c, id, DR_OF(e, dr_txn_t, e), &m);
        } else {
            dr_app_request(c, id, tok, n, sip, &m);
        }
    } else if (strcmp(verb, "proxy") == 0) {
        dr_app_proxy(c, id, tok, n, sip);
    } else {
        /* an unknown verb or one short of its tokens: NO with the reason,
         * the connection stays up (drachtio-server answers the same) */
        bool known = strcmp(verb, "route") == 0 || strcmp(verb, "remove_route") == 0 ||
                     strcmp(verb, "sip") == 0;
        char why[120];
        snprintf(why, sizeof(why), known ? "NO|too few tokens for \"%.40s\"" : "NO|unknown verb \"%.40s\"",
                 verb);
        dr_reply(c, id, why, (sc_str_t){ 0 });
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    dr_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    idle_arm(c);
    for (;;) {
        char *payload;
        size_t len;
        const char *why;
        int rc = dr_frame_next(in, c->hub->conf.max_frame, &payload, &len, &why);
        if (rc == 0)
            return;
        if (rc < 0) {
            conn_close(c, why);
            return;
        }
        /* a command may close c: keep going only while it is there */
        dr_hub_t *h = c->hub;
        dr_link_t *mark = &c->link;
        command(c, payload, len);
        free(payload);
        bool alive = false;
        for (dr_link_t *l = h->conns.next; l != &h->conns; l = l->next)
            alive |= l == mark;
        if (!alive)
            return;
    }
}

/* Why a TLS connection failed: OpenSSL's reason (a certificate that
 * does not verify, no shared protocol ...), else the socket's. */
static const char *tls_why(struct bufferevent *bev, char *buf, size_t cap)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e == 0)
        return NULL;
    ERR_error_string_n(e, buf, cap);
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, " (%s)", X509_verify_cert_error_string(v));
    }
    return buf;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    dr_conn_t *c = arg;
    char tls[300];
    const char *why = (what & BEV_EVENT_ERROR) ? tls_why(bev, tls, sizeof(tls)) : NULL;
    if (what & BEV_EVENT_CONNECTED) {
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return;                     /* outbound: the app authenticates first */
    }
    conn_close(c, what & BEV_EVENT_EOF ? "closed the connection"
                  : why                    ? why
                  : what & BEV_EVENT_ERROR ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())
                                           : "connection lost");
}

static dr_conn_t *conn_new(dr_hub_t *h, struct bufferevent *bev, const struct sockaddr *sa)
{
    dr_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->hub = h;
    c->bev = bev;
    char ip[64] = "?";
    unsigned port = 0;
    if (sa && sa->sa_family == AF_INET) {
        evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
        evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    snprintf(c->peer, sizeof(c->peer), sa && sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
    if (h->conf.idle_timeout_s)
        c->idle = evtimer_new(h->base, on_idle, c);
    idle_arm(c);
    dr_list_add(&h->conns, &c->link);
    bufferevent_setcb(bev, on_read, NULL, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    return c;
}

/* TCP keep-alive finds a peer that vanished without a FIN (45 s idle,
 * then 3 probes 10 s apart), as drachtio-server's tcp-keepalive. */
static void keepalive(evutil_socket_t fd)
{
    int one = 1, idle = 45, intvl = 10, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A TLS bufferevent on fd (-1: to connect): accepting with a server
 * context; connecting with a client one, checking the certificate names
 * host (an address or a DNS name, RFC 6125). */
static struct bufferevent *tls_bev(dr_hub_t *h, evutil_socket_t fd, SSL_CTX *ctx, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (host) {
        struct in6_addr a;
        bool numeric = inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
        if (numeric ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
                    : SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) {
            SSL_free(ssl);
            return NULL;
        }
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        h->base, fd, ssl, host ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
        BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    /* Node.js may close without close_notify: an end, not an attack
     * (frames are length-prefixed, a cut one is seen as such) */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    dr_hub_t *h = arg;
    (void)l;
    (void)len;
    keepalive(fd);
    struct bufferevent *bev = h->conf.srv_ctx ? tls_bev(h, fd, h->conf.srv_ctx, NULL)
                                              : bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL || conn_new(h, bev, sa) == NULL) {
        if (bev)
            bufferevent_free(bev);
        else
            evutil_closesocket(fd);
    }
}

/* "host:port" or "[v6]:port" into sa. */
static int parse_hostport(const char *text, struct sockaddr_storage *ss, int *len)
{
    *len = sizeof(*ss);
    memset(ss, 0, sizeof(*ss));
    return evutil_parse_sockaddr_port(text, (struct sockaddr *)ss, len);
}

int dr_connect_out(dr_hub_t *h, dr_txn_t *t, const char *url)
{
    struct sockaddr_storage ss;
    int len;
    bool tls = strncmp(url, "tls://", 6) == 0;
    if ((!tls && strncmp(url, "tcp://", 6) != 0) || parse_hostport(url + 6, &ss, &len) != 0 ||
        (tls && h->conf.cli_ctx == NULL))
        return -1;
    char host[80];                  /* what the certificate must name */
    const char *hp = url[6] == '[' ? url + 7 : url + 6;
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(hp, url[6] == '[' ? "]" : ":"), hp);
    struct bufferevent *bev = tls ? tls_bev(h, -1, h->conf.cli_ctx, host)
                                  : bufferevent_socket_new(h->base, -1, BEV_OPT_CLOSE_ON_FREE);
    dr_conn_t *c = bev ? conn_new(h, bev, (struct sockaddr *)&ss) : NULL;
    if (c == NULL) {
        if (bev)
            bufferevent_free(bev);
        return -1;
    }
    c->outbound = true;
    c->handover = t;
    t->conn = c;
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, len) != 0) {
        c->handover = NULL;
        t->conn = NULL;
        conn_free(c);
        return -1;
    }
    keepalive(bufferevent_getfd(bev));
    return 0;
}

/* --- the hub ------------------------------------------------------------------ */

void dr_hub_stop(dr_hub_t *h)
{
    if (h->stopping)
        return;
    h->stopping = true;
    /* no new application connections: the socket closed, not only
     * unwatched (the kernel would still complete handshakes) */
    evconnlistener_free(h->lev);
    h->lev = NULL;
    dr_inbound_stop(h);
}

static void use_newest(dr_hub_t *h)
{
    h->conf = h->users[h->nusers - 1].conf;
    h->inst = h->users[h->nusers - 1].inst;
}

dr_hub_t *dr_hub_get(sc_instance_t *inst, const dr_conf_t *conf, char *err, size_t errlen)
{
    for (dr_hub_t *h = hubs; h; h = h->next)
        if (strcmp(h->listen, conf->listen) == 0) {
            if (h->nusers == DR_MAX_USERS) {
                snprintf(err, errlen, "%s: too many reloads still draining", conf->listen);
                return NULL;
            }
            h->users[h->nusers].inst = inst;
            h->users[h->nusers++].conf = *conf;     /* the new secret, timeouts, TLS ... */
            use_newest(h);
            return h;
        }
    struct sockaddr_storage ss;
    int len;
    if (parse_hostport(conf->listen, &ss, &len) != 0) {
        snprintf(err, errlen, "listen \"%s\" is not host:port", conf->listen);
        return NULL;
    }
    dr_hub_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->base = sc_instance_base(inst);
    h->lev = evconnlistener_new_bind(h->base, on_accept, h,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                     128, (struct sockaddr *)&ss, len);
    if (h->lev == NULL) {
        snprintf(err, errlen, "cannot listen on %s: %s", conf->listen, strerror(errno));
        free(h);
        return NULL;
    }
    snprintf(h->listen, sizeof(h->listen), "%s", conf->listen);
    h->users[0].inst = inst;
    h->users[0].conf = *conf;
    h->nusers = 1;
    use_newest(h);
    dr_list_init(&h->conns);
    dr_list_init(&h->txns);
    dr_list_init(&h->calls);
    dr_list_init(&h->dlgs);
    h->next = hubs;
    hubs = h;
    return h;
}

void dr_hub_put(dr_hub_t *h, sc_instance_t *inst)
{
    if (h == NULL)
        return;
    for (int i = 0; i < h->nusers; i++)
        if (h->users[i].inst == inst) {
            memmove(&h->users[i], &h->users[i + 1], sizeof(h->users[0]) * (size_t)(h->nusers - i - 1));
            h->nusers--;
            break;
        }
    if (h->nusers) {
        use_newest(h);
        return;
    }
    for (dr_hub_t **p = &hubs; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    h->inst = inst;             /* for the last log lines */
    dr_inbound_forget(h);       /* before the connections: their requests are gone */
    while (h->conns.next != &h->conns)
        conn_free(DR_OF(h->conns.next, dr_conn_t, link));
    dr_dlg_drop_ended(h);
    if (h->lev)
        evconnlistener_free(h->lev);
    free(h);
}
