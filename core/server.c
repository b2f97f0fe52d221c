/* server.c — the event loop, signals, and the answers the core gives
 * before any module runs (DESIGN §6). */
#include "server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "sc_auto_config.h"
#include "app.h"
#include "respond.h"
#include "route_in.h"
#include "admin_http.h"
#include "metrics_http.h"
#include "sc_log.h"
#include "sc_metrics.h"
#include "sd_notify.h"

/* A configuration and the chain built from it, as nginx's "cycle": a
 * reload builds a new generation beside the running one and swaps only
 * when everything in it started.  The chain's instances may point into
 * the config tree, so both live and die together. */
typedef struct generation {
    sc_server_conf_t   conf;
    sc_chain_t        *chain;
    struct generation *next;            /* retired, draining */
} generation_t;

typedef struct {
    sc_tp_kind_t            kind;
    struct sockaddr_storage addr;
    socklen_t               len;
    char                    text[96];
    sc_listener_t          *l;
} slot_t;

/* The counter of one parse error (status and reason), kept so that a
 * flood of garbage costs a hash and a compare per datagram, not a series
 * lookup (label text built, every series of the family compared). */
#define PARSE_ERR_SLOTS 64
typedef struct {
    unsigned     gen;                   /* sc_metrics_generation() when filled */
    unsigned     status;
    char         reason[sizeof(((sc_parse_err_t *)0)->reason)];
    sc_metric_t *counter;
} parse_err_slot_t;

typedef struct {
    const char        *file;
    struct event_base *base;
    generation_t      *cur;
    generation_t      *retired;
    struct event      *reaper;
    slot_t             slots[SC_MAX_LISTEN];
    int                nslots;
    sc_clock_t        *clock;
    sc_txn_layer_t    *txns;            /* outlive generations: a reload keeps calls */
    sc_tp_set_t       *tps;             /* listeners and connections, for sending */
    sc_keep_t         *keep;            /* module state that outlives generations */
    sc_stack_t         stack;           /* txns, tps and the dialogs, for the chains */
    unsigned long      dropped;         /* garbage and unanswerable */
    unsigned long      overload_refused;    /* 503s since the last line about them */
    time_t             overload_logged;
    time_t             bad_second;      /* bad requests logged in this second ... */
    unsigned           bad_logged;
    unsigned long      bad_unlogged;    /* ... and those not, since the last line */
    parse_err_slot_t   parse_errs[PARSE_ERR_SLOTS];
    unsigned           txn_peak;        /* most transactions since the last trim */
    bool               stopping;
    struct event      *drain;
    struct timeval     stop_deadline;
    sc_metrics_http_t *http;            /* server.metrics, kept across reloads */
    sc_admin_http_t   *admin;           /* server.admin, kept across reloads */
    time_t             started, loaded;
    unsigned           reloads, reload_failures;
} server_t;

static const char *tp_name(const sc_source_t *src)
{
    return sc_tp_name(src->kind);
}

static void trace_sent(const sc_source_t *flow, const char *buf, size_t len)
{
    sc_log_trace(buf, len, "sent %zu octets to %s:%s:%u", len, tp_name(flow), flow->peer.ip,
                 flow->peer.port);
}

/* Everything transactions send leaves here. */
static int txn_send(void *ctx, const sc_source_t *flow, const char *buf, size_t len)
{
    (void)ctx;
    if (sc_log_sip_trace)
        trace_sent(flow, buf, len);
    int rc = sc_flow_send(flow, buf, len);
    if (rc != 0)
        sc_log(SC_LOG_WARN, "cannot send %zu octets to %s:%s:%u", len, tp_name(flow),
               flow->peer.ip, flow->peer.port);
    return rc;
}

static void on_conn_lost(void *arg, const sc_conn_t *c)
{
    server_t *s = arg;
    sc_txn_conn_lost(s->txns, c);
}

/* An ICMP unreachable for a datagram we sent: the requests waiting on
 * that address fail over now. */
static void on_udp_unreachable(void *arg, const sc_listener_t *l, const struct sockaddr *to,
                               const char *why)
{
    server_t *s = arg;
    sc_peer_t p = { .len = sizeof(p.addr) };
    memcpy(&p.addr, to, to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in));
    sc_peer_describe(&p);
    unsigned n = sc_txn_udp_unreachable(s->txns, l, to);
    sc_log(n ? SC_LOG_INFO : SC_LOG_DEBUG, "udp:%s%s%s:%u: %s: %u request(s) failed over",
           strchr(p.ip, ':') ? "[" : "", p.ip, strchr(p.ip, ':') ? "]" : "", p.port, why, n);
}

/* A stateless answer (sanity checks, overload). */
static void send_response(const sc_source_t *src, sc_msg_t *resp)
{
    if (sc_log_sip_trace) {
        sc_str_t out = sc_msg_serialize(resp);
        trace_sent(src, out.s, out.len);
    }
    if (sc_respond_send(src, resp) != 0)
        sc_log(SC_LOG_WARN, "cannot send %u to %s:%u", resp->status, src->peer.ip, src->peer.port);
}

/* The core's own answers, before any module (DESIGN §6). */
/* Builds one of the core's answers: hdr (may be NULL) is an extra header
 * such as Unsupported or Retry-After.  Through txn when there is one,
 * else stateless. */
static void answer_via(const server_t *s, const sc_source_t *src, sc_txn_t *txn, const sc_msg_t *req,
                       unsigned status, const char *reason, const char *hdr, const char *value)
{
    char tag[17];
    sc_gen_tag(tag, 16);
    sc_msg_t *r = sc_respond_build(req, src, status, reason, tag, s->cur->conf.server_header);
    if (r == NULL) {
        sc_log(SC_LOG_WARN, "cannot build %u for %s:%u", status, src->peer.ip, src->peer.port);
        return;
    }
    if (hdr)
        sc_msg_add_header(r, sc_str_cstr(hdr), sc_str_cstr(value), NULL);
    if (txn)
        sc_txn_respond(txn, r);
    else
        send_response(src, r);
    sc_msg_free(r);
}

static void answer(const server_t *s, const sc_source_t *src, const sc_msg_t *req, unsigned status,
                   const char *reason, const char *unsupported)
{
    answer_via(s, src, NULL, req, status, reason, unsupported ? "Unsupported" : NULL, unsupported);
}

/* §9.2: a CANCEL gets 200 when it matches an INVITE still in a server
 * transaction, else 481; the INVITE's holder answers it 487. */
static void on_cancel(server_t *s, const sc_source_t *src, sc_txn_t *t)
{
    const sc_msg_t *m = sc_txn_request(t);
    sc_txn_t *inv = sc_txn_find_cancelled(s->txns, m);
    answer_via(s, src, t, m, inv ? 200 : 481, NULL, NULL, NULL);
    if (inv && !sc_txn_cancel(inv, m) && sc_txn_state(inv) == SC_TS_PROCEEDING)
        answer_via(s, src, inv, sc_txn_request(inv), 487, NULL, NULL, NULL);  /* nobody holds it */
}

/* A request refused for overload: counted, and logged as one line per
 * second at most (a flood must not become a flood of log lines). */
static void overloaded(server_t *s, const sc_source_t *src)
{
    sc_metric_add(sc_metric_counter("sipchain_overload_rejected_total",
                                    "new requests answered 503 over max_transactions", NULL), 1);
    time_t now = time(NULL);
    s->overload_refused++;
    if (now == s->overload_logged)
        return;
    sc_log(SC_LOG_WARN, "max_transactions (%u) unanswered: 503 to %lu new request(s) (the last from %s:%u)",
           sc_txn_layer_conf(s->txns)->max_txns, s->overload_refused, src->peer.ip, src->peer.port);
    s->overload_logged = now;
    s->overload_refused = 0;
}

/* The transaction layer's verdict on a request that passed the sanity
 * checks: a new transaction goes to the chain; retransmissions were
 * absorbed; ACKs for 2xx are for the dialog layer. */
static void dispatch(server_t *s, const sc_source_t *src, char *raw, sc_msg_t *m)
{
    /* §18.2.1 (and RFC 3581): received and rport go into the top Via as
     * the request arrives, so every answer (the transaction's 100, a
     * module's) and every copy a proxy forwards carries them */
    if (sc_msg_stamp_via(m, src->peer.ip, src->peer.port) != 0)
        sc_log(SC_LOG_WARN, "out of memory stamping the Via from %s:%u", src->peer.ip, src->peer.port);
    sc_source_t flow = *src;
    sc_flow_for_response(&flow, m->via);
    sc_txn_t *t;
    switch (sc_txn_server_receive(s->txns, &flow, raw, m, &t)) {
    case SC_RX_NEW:
        if (m->method == SC_METHOD_CANCEL)
            on_cancel(s, src, t);
        else if (!sc_dialog_receive(&s->stack, t, src))
            sc_chain_run(s->cur->chain, t, src);
        return;
    case SC_RX_OVERLOAD:
        overloaded(s, src);
        answer_via(s, src, NULL, m, 503, "Service Unavailable (overloaded)", "Retry-After", "5");
        break;
    case SC_RX_ACK:
        if (!sc_dialog_receive_ack(&s->stack, m, src) && sc_proxy_relay_ack(&s->stack, m) != 0)
            sc_log(SC_LOG_DEBUG, "ACK from %s:%u not relayed", src->peer.ip, src->peer.port);
        break;
    case SC_RX_ABSORBED:
        break;
    }
    sc_msg_free(m);
    free(raw);
}

/* Option tags this server implements as a UAS; a Require naming any
 * other gets 420 (RFC 3261 §8.2.2.3).  100rel: every provisional to such
 * an INVITE goes reliably (chain.c, RFC 3262 §3); timer: the UAS dialog
 * runs RFC 4028 session timers. */
static bool tag_supported(sc_str_t tag)
{
    return sc_str_caseeq_c(tag, "100rel") || sc_str_caseeq_c(tag, "timer");
}

/* By status and reason: the reasons name the defect (some name a header
 * too), and sc_metric_kv caps how many series a peer can make.  The
 * series is found once per status and reason, then taken from a small
 * direct-mapped cache (a slot taken by another reason is found again). */
static void count_parse_error(server_t *s, const sc_parse_err_t *err)
{
    uint32_t h = 2166136261u ^ err->status;
    for (const char *p = err->reason; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    parse_err_slot_t *slot = &s->parse_errs[h % PARSE_ERR_SLOTS];
    unsigned gen = sc_metrics_generation() + 1;     /* 0: never filled */
    if (slot->gen != gen || slot->status != err->status || strcmp(slot->reason, err->reason) != 0) {
        char status[8];
        snprintf(status, sizeof(status), "%u", err->status);
        slot->counter = sc_metric_kv(SC_METRIC_COUNTER, "sipchain_sip_parse_errors_total",
                                     "messages that did not parse, by the status a UAS answers and the defect",
                                     "status", status, "reason", err->reason);
        slot->gen = gen;
        slot->status = err->status;
        memcpy(slot->reason, err->reason, sizeof(slot->reason));
    }
    sc_metric_add(slot->counter, 1);
}

/* A bad request is logged with its reason, but no more than
 * BAD_LOG_PER_SECOND lines a second: past that it is counted, and the
 * count rides on the next line (a peer must not turn each datagram of
 * garbage into a log line; the metrics count every one). */
#define BAD_LOG_PER_SECOND 10
static void log_bad_request(server_t *s, const sc_peer_t *from, const sc_parse_err_t *err)
{
    if (SC_LOG_INFO > sc_log_level)
        return;
    time_t now = time(NULL);
    if (now != s->bad_second) {
        s->bad_second = now;
        s->bad_logged = 0;
    }
    if (s->bad_logged >= BAD_LOG_PER_SECOND) {
        s->bad_unlogged++;
        return;
    }
    s->bad_logged++;
    if (s->bad_unlogged)
        sc_log(SC_LOG_INFO, "bad request from %s:%u: %u %s (and %lu more not logged before it)",
               from->ip, from->port, err->status, err->reason, s->bad_unlogged);
    else
        sc_log(SC_LOG_INFO, "bad request from %s:%u: %u %s", from->ip, from->port, err->status,
               err->reason);
    s->bad_unlogged = 0;
}

static void handle_message(server_t *s, const sc_source_t *src, char *buf, size_t len);

/* Every line logged while a message is handled carries where it came
 * from and, once parsed, its Call-ID, method and status (JSON fields). */
static void on_message(const sc_source_t *src, char *buf, size_t len, void *arg)
{
    size_t i = 0;
    while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (i == len)
        return;                     /* keep-alive */
    sc_log_context_peer(tp_name(src), src->peer.ip, src->peer.port);
    if (sc_log_sip_trace)
        sc_log_trace(buf, len, "received %zu octets from %s:%s:%u", len, tp_name(src), src->peer.ip,
                     src->peer.port);
    handle_message(arg, src, buf, len);
    sc_log_context_clear();
}

static void handle_message(server_t *s, const sc_source_t *src, char *buf, size_t len)
{
    const sc_peer_t *from = &src->peer;

    /* The request may outlive this callback (a module answering later),
     * so it is parsed from bytes of its own. */
    char *raw = malloc(len);
    if (raw == NULL)
        return;
    memcpy(raw, buf, len);
    sc_msg_t *m;
    sc_parse_err_t err;
    int rc = sc_msg_parse(&m, raw, len,
                          src->kind == SC_TP_UDP ? SC_TRANSPORT_DGRAM : SC_TRANSPORT_STREAM,
                          &s->cur->conf.tp.limits, &err);
    if (m) {
        sc_str_t meth = m->is_request ? m->method_str : m->has_cseq ? m->cseq.method_str : (sc_str_t){ 0 };
        sc_log_context_msg(m->call_id.s, m->call_id.len, meth.s, meth.len, m->is_request ? 0 : m->status);
    }
    if (m && !m->is_request && rc == 0 && sc_txn_client_receive(s->txns, m))
        goto done;
    if (rc != 0) {
        count_parse_error(s, &err);
        /* the source of garbage is told to the chain (the guard counts
         * it against the source's rate, and may block it) */
        sc_chain_emit(s->cur->chain, SC_EVENT_MALFORMED, &from->addr);
    }
    if (m == NULL || !m->is_request) {
        /* Garbage, or a response with no transaction to match: dropped,
         * as RFC 3261 §18.1.2, RFC 6026 §7 and RFC 4475 §3.1.2.19 ask. */
        s->dropped++;
        sc_log(SC_LOG_DEBUG, "dropped %zu octets from %s:%u: %s", len, from->ip, from->port,
               rc ? err.reason : "response without transaction");
        goto done;
    }
    if (rc != 0) {
        if (m->hdr[SC_HDR_VIA] && m->method != SC_METHOD_ACK)
            answer(s, src, m, err.status, err.reason, NULL);
        else
            s->dropped++;
        log_bad_request(s, from, &err);
        goto done;
    }
    sc_route_consume_ours(s->tps, m);   /* §16.4: as if it came without them */
    if (m->method == SC_METHOD_ACK) {
        dispatch(s, src, raw, m);   /* never answered; a transaction may absorb it */
        return;
    }
    if (m->ruri.scheme != SC_URI_SIP && m->ruri.scheme != SC_URI_SIPS &&
        m->ruri.scheme != SC_URI_TEL) {
        answer(s, src, m, 416, NULL, NULL);
        goto done;
    }
    if (m->method != SC_METHOD_CANCEL && !sc_chain_takes_require(s->cur->chain)) {
        char list[512];
        size_t n = 0;
        for (const sc_token_list_t *t = m->require; t; t = t->next)
            if (!tag_supported(t->tok) && n + t->tok.len + 2 < sizeof(list))
                n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%.*s", n ? ", " : "",
                                      SC_STR_FMT(t->tok));
        if (n) {
            answer(s, src, m, 420, NULL, list);
            goto done;
        }
    }
    if (m->max_forwards == 0 && m->method != SC_METHOD_OPTIONS) {
        answer(s, src, m, 483, NULL, NULL);
        goto done;
    }
    dispatch(s, src, raw, m);       /* takes raw and m */
    return;
done:                               /* answered by the core, or dropped */
    sc_msg_free(m);
    free(raw);
}

static void generation_free(generation_t *g)
{
    if (g == NULL)
        return;
    sc_chain_free(g->chain);        /* answers what still waits, runs stop/destroy */
    sc_server_conf_free(&g->conf);
    free(g);
}

/* Reads, validates and starts a generation from the config file.  NULL
 * with the reason in err. */
static generation_t *generation_new(server_t *s, char *err, size_t errlen)
{
    generation_t *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sc_server_conf_read(s->file, &g->conf, err, errlen) != 0) {
        free(g);
        return NULL;
    }
    g->chain = sc_chain_build(s->keep, sc_conf_get(g->conf.tree, "chain"), g->conf.modules_path, s->base,
                              g->conf.default_status, err, errlen);
    if (g->chain == NULL) {
        generation_free(g);
        return NULL;
    }
    sc_chain_set_request_timeout(g->chain, g->conf.request_timeout_s);
    sc_chain_set_session_timers(g->chain, g->conf.session_expires_s, g->conf.min_se_s);
    sc_chain_set_agent(g->chain, g->conf.server_header);
    sc_chain_set_stack(g->chain, &s->stack);
    if (sc_chain_start(g->chain, err, errlen) != 0) {
        generation_free(g);
        return NULL;
    }
    return g;
}

static int slot_find(const server_t *s, sc_tp_kind_t kind, const struct sockaddr_storage *a,
                     socklen_t len)
{
    for (int i = 0; i < s->nslots; i++)
        if (s->slots[i].kind == kind && s->slots[i].len == len && memcmp(&s->slots[i].addr, a, len) == 0)
            return i;
    return -1;
}

/* Makes the listeners match g's listen list: kept ones stay open (no
 * packet lost), new ones open, the rest close.  Nothing changes if a new
 * one cannot open. */
static int listeners_apply(server_t *s, const generation_t *g, char *err, size_t errlen)
{
    const sc_server_conf_t *c = &g->conf;
    slot_t next[SC_MAX_LISTEN];
    bool kept[SC_MAX_LISTEN] = { false };
    int n = 0;
    for (int i = 0; i < c->nlisten; i++, n++) {
        slot_t *sl = &next[n];
        memset(sl, 0, sizeof(*sl));
        sl->kind = c->listen_kind[i];
        sl->addr = c->listen[i];
        sl->len = c->listen_len[i];
        snprintf(sl->text, sizeof(sl->text), "%s", c->listen_text[i]);
        int k = slot_find(s, sl->kind, &sl->addr, sl->len);
        if (k >= 0) {
            sl->l = s->slots[k].l;
            kept[k] = true;
            if (sc_listener_update(sl->l, &c->tp, &c->listen_tls[i], err, errlen) != 0)
                sc_log(SC_LOG_WARN, "%s keeps its old TLS material: %s", sl->text, err);
            if (sc_listener_set_advertise(sl->l, c->listen_advertise[i][0] ? c->listen_advertise[i] : NULL,
                                          c->listen_advertise_port[i]) != 0)
                sc_log(SC_LOG_ERROR, "%s: advertise: out of memory", sl->text);
            continue;
        }
        sl->l = sc_listen(s->base, sl->kind, (const struct sockaddr *)&sl->addr, sl->len, &c->tp,
                          &c->listen_tls[i], on_message, s, err, errlen);
        if (sl->l == NULL) {
            char why[256];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen, "listen %s: %s", sl->text, why);
            for (int j = 0; j < n; j++)     /* undo what this attempt opened */
                if (slot_find(s, next[j].kind, &next[j].addr, next[j].len) < 0)
                    sc_listener_free(next[j].l);
            return -1;
        }
        sc_tp_set_add(s->tps, sl->l);
        if (sc_listener_set_advertise(sl->l, c->listen_advertise[i][0] ? c->listen_advertise[i] : NULL,
                                      c->listen_advertise_port[i]) != 0)
            sc_log(SC_LOG_ERROR, "%s: advertise: out of memory", sl->text);
        sc_log(SC_LOG_INFO, "listening on %s%s%s", sl->text, c->listen_advertise[i][0] ? ", advertised as " : "",
               c->listen_advertise[i]);
    }
    for (int i = 0; i < s->nslots; i++)
        if (!kept[i]) {
            sc_log(SC_LOG_INFO, "closing %s", s->slots[i].text);
            sc_listener_free(s->slots[i].l);
        }
    memcpy(s->slots, next, sizeof(next[0]) * (size_t)n);
    s->nslots = n;
    sc_tp_set_opts(s->tps, &c->tp);
    char warn[512];
    if (sc_server_conf_warning(c, warn, sizeof(warn)))
        sc_log(SC_LOG_WARN, "%s", warn);
    if (sc_tp_set_aliases(s->tps, c->aliases) != 0)
        sc_log(SC_LOG_ERROR, "aliases: out of memory");
    return 0;
}

/* Each connection is a descriptor: the soft open file limit (often 1024)
 * goes up to the hard one (at most 2^20), and a limit still below what
 * max_connections allows is said once.  Should it run out anyway, the
 * transport closes the oldest unproven connection to accept the next,
 * or pauses accepting (transport_tcp.c), instead of spinning. */
static void fd_limit(const sc_server_conf_t *c)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return;
    rlim_t want = r.rlim_max == RLIM_INFINITY || r.rlim_max > (1u << 20) ? (1u << 20) : r.rlim_max;
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < want) {
        r.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0)
            getrlimit(RLIMIT_NOFILE, &r);
    }
    unsigned long need = 64;
    for (int i = 0; i < c->nlisten; i++)
        if (c->listen_kind[i] != SC_TP_UDP)
            need += c->tp.max_connections;
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < need)
        sc_log(SC_LOG_WARN, "open file limit %lu is below what max_connections allows (%lu): "
               "raise it (ulimit -n, LimitNOFILE=) or lower max_connections",
               (unsigned long)r.rlim_cur, need);
}

/* After a spike: once the transactions it brought have mostly ended
 * (a quarter of the peak left), the heap's free pages go back to the
 * system (glibc keeps them otherwise, pinned by whatever small block
 * still lives above them).  Once per spike, from the reaper's second. */
static void give_back_memory(server_t *s)
{
    unsigned now = sc_txn_count(s->txns);
    if (now > s->txn_peak)
        s->txn_peak = now;
    if (s->txn_peak >= 1000 && now <= s->txn_peak / 4) {
        malloc_trim(0);
        s->txn_peak = now;
    }
}

/* Frees retired generations once their last request is answered (and
 * gives memory back after a spike). */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    server_t *s = arg;
    (void)fd;
    (void)what;
    give_back_memory(s);
    for (generation_t **p = &s->retired; *p;) {
        generation_t *g = *p;
        if (sc_chain_pending(g->chain) == 0 && sc_chain_dialogs(g->chain) == 0) {
            *p = g->next;
            generation_free(g);
        } else {
            p = &g->next;
        }
    }
}

/* count summed over the running chain and those still draining. */
static unsigned over_generations(const server_t *s, unsigned (*count)(const sc_chain_t *))
{
    unsigned n = count(s->cur->chain);
    for (const generation_t *g = s->retired; g; g = g->next)
        n += count(g->chain);
    return n;
}

/* What the metrics page shows, read when it is asked for. */
static void server_state(void *arg, sc_server_state_t *out)
{
    const server_t *s = arg;
    out->config_file = s->file;
    out->started = s->started;
    out->loaded = s->loaded;
    out->reloads = s->reloads;
    out->reload_failures = s->reload_failures;
    out->stopping = s->stopping;
    for (int i = 0; i < s->nslots && i < SC_STATUS_MAX_LISTEN; i++)
        out->listeners[out->nlisteners++] = s->slots[i].text;
    out->chain = s->cur->chain;
    out->transactions = sc_txn_count(s->txns);
    out->transactions_busy = sc_txn_busy(s->txns);
    out->dialogs = over_generations(s, sc_chain_dialogs);
}

/* The running chain, then those still draining (the management API). */
static int chains(void *arg, sc_chain_t **out, int max)
{
    const server_t *s = arg;
    int n = 0;
    if (max > 0)
        out[n++] = s->cur->chain;
    for (const generation_t *g = s->retired; g && n < max; g = g->next)
        out[n++] = g->chain;
    return n;
}

/* Tells the service manager the reload is over: serving again, with the
 * old configuration when it failed (the STATUS line says why). */
static void reload_done(server_t *s, const char *failure)
{
    char msg[1200];
    if (failure) {
        s->reload_failures++;
        snprintf(msg, sizeof(msg), "READY=1\nSTATUS=reload failed, serving the previous configuration: %s",
                 failure);
    } else {
        s->loaded = time(NULL);
        snprintf(msg, sizeof(msg), "READY=1\nSTATUS=serving with %s", s->file);
    }
    sc_sd_notify(msg);
}

/* A reload that did not happen: said in the log and to the service
 * manager; g (may be NULL) was never swapped in. */
static void reload_failed(server_t *s, generation_t *g, const char *err)
{
    sc_log(SC_LOG_ERROR, "reload failed, keeping the running configuration: %s", err);
    generation_free(g);
    reload_done(s, err);
}

/* A reload, the nginx way (DESIGN §5): a new generation is built and
 * started beside the running one; only when that and the listeners
 * succeed is it swapped in.  Requests in flight finish on the chain they
 * started on.  SIGHUP and the management API's POST /v1/reload.  0, or
 * -1 with the reason in err. */
static int reload(void *arg, char *err, size_t errlen)
{
    server_t *s = arg;
    if (s->stopping) {
        snprintf(err, errlen, "stopping");
        return -1;              /* no reload while stopping */
    }
    sc_sd_notify_reloading();
    generation_t *g = generation_new(s, err, errlen);
    if (g == NULL || sc_log_configure(&g->conf.log, err, errlen) != 0) {
        reload_failed(s, g, err);
        return -1;
    }
    if (listeners_apply(s, g, err, errlen) != 0) {
        char why[1024], scratch[256];
        snprintf(why, sizeof(why), "%s", err);
        sc_log_configure(&s->cur->conf.log, scratch, sizeof(scratch));    /* back as it was */
        reload_failed(s, g, why);
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    s->cur->next = s->retired;
    s->retired = s->cur;
    s->cur = g;
    s->reloads++;
    sc_txn_layer_set_conf(s->txns, &g->conf.txn);
    sc_log(SC_LOG_INFO, "reloaded %s", s->file);
    const sc_server_conf_t *old = &s->retired->conf;
    if (old->metrics != g->conf.metrics || old->metrics_len != g->conf.metrics_len ||
        memcmp(&old->metrics_addr, &g->conf.metrics_addr, g->conf.metrics_len) != 0)
        sc_log(SC_LOG_WARN, "server.metrics changed: it takes effect at the next start");
    if (old->admin != g->conf.admin || strcmp(old->admin_text, g->conf.admin_text) != 0 ||
        (old->admin_token == NULL) != (g->conf.admin_token == NULL) ||
        (old->admin_token && strcmp(old->admin_token, g->conf.admin_token) != 0))
        sc_log(SC_LOG_WARN, "server.admin changed: it takes effect at the next start");
    reload_done(s, NULL);
    on_reap(-1, 0, s);
    return 0;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    char err[1024];
    (void)sig;
    (void)what;
    reload(arg, err, sizeof(err));
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    server_t *s = arg;
    sc_log_reopen();
    sc_log(SC_LOG_INFO, "SIGUSR1: log file reopened");
    /* and the modules' files (cdr-writer ...), for logrotate */
    for (generation_t *g = s->cur; g; g = g == s->cur ? s->retired : g->next)
        sc_chain_emit(g->chain, "server:reopen", NULL);
}



static void finish_stop(server_t *s)
{
    /* what is still waiting gets 503, then the loop ends */
    for (generation_t *g = s->retired; g; g = g->next)
        sc_chain_abort_pending(g->chain);
    sc_chain_abort_pending(s->cur->chain);
    /* the listeners close after the loop, once nothing can send: a
     * retransmission timer may still fire in this last iteration */
    event_base_loopexit(s->base, NULL);
}

/* Polls, while stopping, for the last request in flight to be answered,
 * up to the stop timeout. */
static void on_draining(evutil_socket_t fd, short what, void *arg)
{
    server_t *s = arg;
    (void)fd;
    (void)what;
    struct timeval now;
    event_base_gettimeofday_cached(s->base, &now);
    unsigned n = over_generations(s, sc_chain_stop_pending);
    if (n == 0 || timercmp(&now, &s->stop_deadline, >=)) {
        if (n)
            sc_log(SC_LOG_WARN, "stop timeout: %u request(s) still waiting get 503", n);
        event_del(s->drain);
        finish_stop(s);
    }
}

/* SIGTERM / SIGINT: stop reading new requests, let those in flight finish
 * within server.limits.stop_timeout, then exit 0. */
static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    server_t *s = arg;
    (void)what;
    if (s->stopping) {
        sc_log(SC_LOG_INFO, "signal %d again: stopping now", (int)sig);
        event_del(s->drain);
        finish_stop(s);
        return;
    }
    s->stopping = true;
    sc_sd_notify("STOPPING=1\nSTATUS=stopping");
    /* modules refuse new work and let go of what need not be waited for
     * (a drachtio application's unanswered request) */
    for (generation_t *g = s->retired; g; g = g->next)
        sc_chain_emit(g->chain, SC_EVENT_STOPPING, NULL);
    sc_chain_emit(s->cur->chain, SC_EVENT_STOPPING, NULL);
    /* what still rings is CANCELled (§9.1), its callers get 503 at the end */
    for (generation_t *g = s->retired; g; g = g->next)
        sc_chain_cancel_ringing(g->chain);
    sc_chain_cancel_ringing(s->cur->chain);
    for (generation_t *g = s->retired; g; g = g->next)
        sc_chain_end_dialogs(g->chain);
    sc_chain_end_dialogs(s->cur->chain);        /* their BYEs are work in flight */
    unsigned n = over_generations(s, sc_chain_stop_pending);
    sc_log(SC_LOG_INFO, "signal %d: stopping (%u request(s) in flight)", (int)sig, n);
    for (int i = 0; i < s->nslots; i++)
        sc_listener_pause(s->slots[i].l);
    struct timeval now, bound = { .tv_sec = s->cur->conf.stop_timeout_s }, tick = { 0, 50000 };
    event_base_gettimeofday_cached(s->base, &now);
    timeradd(&now, &bound, &s->stop_deadline);
    s->drain = event_new(s->base, -1, EV_PERSIST, on_draining, s);
    event_add(s->drain, &tick);
    on_draining(-1, 0, s);
}

/* For the teardown: a signal now would find libevent's handlers gone
 * (the default action: death before the log is flushed); held, they die
 * with the process. */
static void hold_signals(void)
{
    sigset_t held;
    sigemptyset(&held);
    sigaddset(&held, SIGTERM);
    sigaddset(&held, SIGINT);
    sigaddset(&held, SIGHUP);
    sigaddset(&held, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &held, NULL);
}

int sc_server_run(const char *file)
{
    server_t s = { .file = file, .started = time(NULL) };
    char err[1024];
    int status = 1;
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    if (s.base == NULL) {
        sc_log(SC_LOG_ERROR, "cannot create the event loop");
        return 1;
    }
    struct event *sigs[4] = {
        evsignal_new(s.base, SIGTERM, on_stop_signal, &s),
        evsignal_new(s.base, SIGINT, on_stop_signal, &s),
        evsignal_new(s.base, SIGHUP, on_hup, &s),
        evsignal_new(s.base, SIGUSR1, on_usr1, &s),
    };
    for (int i = 0; i < 4; i++)
        evsignal_add(sigs[i], NULL);
    s.reaper = event_new(s.base, -1, EV_PERSIST, on_reap, &s);
    struct timeval second = { .tv_sec = 1 };
    event_add(s.reaper, &second);

    s.clock = sc_clock_event(s.base);
    s.txns = s.clock ? sc_txn_layer_new(s.clock, NULL, txn_send, &s) : NULL;
    s.tps = sc_tp_set_new(s.base, on_message, &s);
    s.keep = sc_keep_new();
    s.stack = (sc_stack_t){ .txns = s.txns, .tps = s.tps, .dialogs = sc_dlg_table_new() };
    if (s.txns == NULL || s.tps == NULL || s.stack.dialogs == NULL || s.keep == NULL) {
        sc_log(SC_LOG_ERROR, "out of memory");
        goto out;
    }
    sc_tp_set_on_lost(s.tps, on_conn_lost, &s);
    sc_tp_set_on_unreachable(s.tps, on_udp_unreachable, &s);
    s.cur = generation_new(&s, err, sizeof(err));
    if (s.cur == NULL) {
        sc_log(SC_LOG_ERROR, "%s", err);
        goto out;
    }
    sc_txn_layer_set_conf(s.txns, &s.cur->conf.txn);
    /* the resolver keeps the DNS settings of the start: a reload that
     * changes them takes a restart (resolutions in flight use it) */
    s.stack.resolver = sc_resolver_new(s.base, &s.cur->conf.dns);
    sc_chain_set_stack(s.cur->chain, &s.stack);
    if (s.stack.resolver == NULL) {
        sc_log(SC_LOG_ERROR, "out of memory");
        goto out;
    }
    if (sc_log_configure(&s.cur->conf.log, err, sizeof(err)) != 0 ||
        listeners_apply(&s, s.cur, err, sizeof(err)) != 0) {
        sc_log(SC_LOG_ERROR, "%s", err);
        goto out;
    }
    if (s.cur->conf.metrics) {
        const sc_server_conf_t *c = &s.cur->conf;
        s.http = sc_metrics_http_new(s.base, (const struct sockaddr *)&c->metrics_addr,
                                     c->metrics_len, server_state, &s, err, sizeof(err));
        if (s.http == NULL) {
            sc_log(SC_LOG_ERROR, "metrics listen %s: %s", c->metrics_text, err);
            goto out;
        }
        sc_log(SC_LOG_INFO, "metrics on http://%s/metrics", c->metrics_text);
    }
    if (s.cur->conf.admin) {
        const sc_server_conf_t *c = &s.cur->conf;
        sc_admin_hooks_t hooks = { .state = server_state, .reload = reload, .chains = chains,
                                   .txns = s.txns, .arg = &s };
        s.admin = sc_admin_http_new(s.base, (const struct sockaddr *)&c->admin_addr, c->admin_len,
                                    c->admin_token, &hooks, err, sizeof(err));
        if (s.admin == NULL) {
            sc_log(SC_LOG_ERROR, "admin listen %s: %s", c->admin_text, err);
            goto out;
        }
        sc_log(SC_LOG_INFO, "management API on %s%s", c->admin_text,
               c->admin_token ? " (bearer token)" : "");
    }
    fd_limit(&s.cur->conf);
    sc_log(SC_LOG_INFO, "sipchain/%s started with %s", SC_VERSION, file);
    reload_done(&s, NULL);          /* READY=1: listeners open, chain started */
    event_base_dispatch(s.base);
    sc_log(SC_LOG_INFO, "stopped (%lu datagrams dropped)", s.dropped);
    status = 0;
out:
    hold_signals();
    /* chains before the listeners their requests hold */
    while (s.retired) {
        generation_t *g = s.retired;
        s.retired = g->next;
        generation_free(g);
    }
    sc_metrics_http_free(s.http);   /* before the chain its pages describe */
    sc_admin_http_free(s.admin);
    generation_free(s.cur);
    sc_keep_free(s.keep);           /* the generations have let go of it */
    sc_resolver_free(s.stack.resolver);     /* chains gone: nobody waits on it */
    sc_txn_layer_free(s.txns);      /* before the listeners its flows use */
    sc_dlg_table_free(s.stack.dialogs);
    sc_clock_free(s.clock);
    for (int i = 0; i < s.nslots; i++)
        sc_listener_free(s.slots[i].l);
    sc_tp_set_free(s.tps);          /* the connections it opened */
    event_free(s.reaper);
    if (s.drain)
        event_free(s.drain);
    for (int i = 0; i < 4; i++)
        event_free(sigs[i]);
    event_base_free(s.base);
    sc_metrics_free();              /* nothing holds a series any more */
    return status;
}
