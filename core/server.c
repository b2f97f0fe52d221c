/* server.c — the event loop, signals, and the answers the core gives
 * before any module runs (DESIGN §6). */
#include "server.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sc_auto_config.h"
#include "app.h"
#include "respond.h"
#include "sc_log.h"

typedef struct {
    const sc_server_conf_t *conf;
    struct event_base      *base;
    sc_chain_t             *chain;
    sc_listener_t          *listeners[SC_MAX_LISTEN];
    int                     nlisteners;
    unsigned long           dropped;        /* garbage and unanswerable */
} server_t;

static void send_response(const sc_source_t *src, const sc_msg_t *req, sc_msg_t *resp)
{
    (void)req;
    if (sc_respond_send(src, resp) != 0)
        sc_log(SC_LOG_WARN, "cannot send %u to %s:%u", resp->status, src->peer.ip, src->peer.port);
}

/* The core's own answers, before any module (DESIGN §6). */
static void answer(const sc_source_t *src, const sc_msg_t *req, unsigned status,
                   const char *reason, const char *unsupported)
{
    char tag[17];
    sc_gen_tag(tag, 16);
    sc_msg_t *r = sc_respond_build(req, src, status, reason, tag);
    if (r == NULL) {
        sc_log(SC_LOG_WARN, "cannot build %u for %s:%u", status, src->peer.ip, src->peer.port);
        return;
    }
    if (unsupported)
        sc_msg_add_header(r, SC_STR_LIT("Unsupported"), sc_str_cstr(unsupported), NULL);
    send_response(src, req, r);
    sc_msg_free(r);
}

/* Option tags this server implements; a Require naming any other gets
 * 420 (RFC 3261 §8.2.2.3).  None yet. */
static bool tag_supported(sc_str_t tag)
{
    (void)tag;
    return false;
}

static void on_message(const sc_source_t *src, char *buf, size_t len, void *arg)
{
    server_t *s = arg;
    const sc_peer_t *from = &src->peer;
    size_t i = 0;
    while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (i == len)
        return;                     /* keep-alive */

    /* The request may outlive this callback (a module answering later),
     * so it is parsed from bytes of its own. */
    char *raw = malloc(len);
    if (raw == NULL)
        return;
    memcpy(raw, buf, len);
    sc_msg_t *m;
    sc_parse_err_t err;
    int rc = sc_msg_parse(&m, raw, len,
                          src->kind == SC_TP_TCP ? SC_TRANSPORT_STREAM : SC_TRANSPORT_DGRAM,
                          &s->conf->tp.limits, &err);
    if (m == NULL || !m->is_request) {
        /* Garbage, or a response with no transaction to match: dropped,
         * as RFC 3261 §18.1.2 and RFC 4475 §3.1.2.19 ask. */
        s->dropped++;
        sc_log(SC_LOG_DEBUG, "dropped %zu octets from %s:%u: %s", len, from->ip, from->port,
               rc ? err.reason : "response without transaction");
        sc_msg_free(m);
        free(raw);
        return;
    }
    if (rc != 0) {
        if (m->hdr[SC_HDR_VIA] && m->method != SC_METHOD_ACK)
            answer(src, m, err.status, err.reason, NULL);
        else
            s->dropped++;
        sc_log(SC_LOG_INFO, "bad request from %s:%u: %u %s", from->ip, from->port, err.status,
               err.reason);
        sc_msg_free(m);
        free(raw);
        return;
    }
    if (m->method == SC_METHOD_ACK) {
        sc_msg_free(m);             /* ACK is never answered */
        free(raw);
        return;
    }
    if (m->ruri.scheme != SC_URI_SIP && m->ruri.scheme != SC_URI_SIPS &&
        m->ruri.scheme != SC_URI_TEL) {
        answer(src, m, 416, NULL, NULL);
        sc_msg_free(m);
        free(raw);
        return;
    }
    if (m->method != SC_METHOD_CANCEL) {
        char list[512];
        size_t n = 0;
        for (const sc_token_list_t *t = m->require; t; t = t->next)
            if (!tag_supported(t->tok) && n + t->tok.len + 2 < sizeof(list))
                n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%.*s", n ? ", " : "",
                                      SC_STR_FMT(t->tok));
        if (n) {
            answer(src, m, 420, NULL, list);
            sc_msg_free(m);
            free(raw);
            return;
        }
    }
    if (m->max_forwards == 0 && m->method != SC_METHOD_OPTIONS) {
        answer(src, m, 483, NULL, NULL);
        sc_msg_free(m);
        free(raw);
        return;
    }
    if (m->method == SC_METHOD_INVITE)
        answer(src, m, 100, NULL, NULL);
    sc_chain_run(s->chain, src, raw, m, send_response);   /* takes raw and m */
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    server_t *s = arg;
    (void)what;
    sc_log(SC_LOG_INFO, "signal %d: stopping", (int)sig);
    /* Requests still waiting on a module are answered 503 and freed, then
     * the listeners close; transactions that must outlive their answer
     * come with the transaction layer. */
    sc_chain_abort_pending(s->chain);
    for (int i = 0; i < s->nlisteners; i++) {
        sc_listener_free(s->listeners[i]);
        s->listeners[i] = NULL;
    }
    event_base_loopexit(s->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what; (void)arg;
    sc_log(SC_LOG_WARN, "SIGHUP: configuration reload is not supported by this build yet");
}

int sc_server_run(const sc_server_conf_t *conf)
{
    server_t s = { .conf = conf };
    int status = 1;
    sc_log_level = (sc_log_level_t)conf->log_level;
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    if (s.base == NULL) {
        sc_log(SC_LOG_ERROR, "cannot create the event loop");
        return 1;
    }
    struct event *sigs[3] = {
        evsignal_new(s.base, SIGTERM, on_stop_signal, &s),
        evsignal_new(s.base, SIGINT, on_stop_signal, &s),
        evsignal_new(s.base, SIGHUP, on_hup, &s),
    };
    for (int i = 0; i < 3; i++)
        evsignal_add(sigs[i], NULL);
    char cerr[1024];
    s.chain = sc_chain_build(sc_conf_get(conf->tree, "chain"), conf->modules_path, s.base,
                             conf->default_status, cerr, sizeof(cerr));
    if (s.chain)
        sc_chain_set_request_timeout(s.chain, conf->request_timeout_s);
    if (s.chain == NULL || sc_chain_start(s.chain, cerr, sizeof(cerr)) != 0) {
        sc_log(SC_LOG_ERROR, "%s", cerr);
        goto out;
    }
    for (int i = 0; i < conf->nlisten; i++) {
        char err[256];
        s.listeners[i] = sc_listen(s.base, conf->listen_kind[i],
                                   (const struct sockaddr *)&conf->listen[i], conf->listen_len[i],
                                   &conf->tp, on_message, &s, err, sizeof(err));
        if (s.listeners[i] == NULL) {
            sc_log(SC_LOG_ERROR, "listen %s: %s", conf->listen_text[i], err);
            goto out;
        }
        s.nlisteners++;
        sc_log(SC_LOG_INFO, "listening on %s", conf->listen_text[i]);
    }
    sc_log(SC_LOG_INFO, "sipchain/%s started with %s", SC_VERSION, conf->file);
    event_base_dispatch(s.base);
    sc_log(SC_LOG_INFO, "stopped (%lu datagrams dropped)", s.dropped);
    status = 0;
out:
    sc_chain_free(s.chain);         /* before the listeners its requests hold */
    for (int i = 0; i < s.nlisteners; i++)
        sc_listener_free(s.listeners[i]);
    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    event_base_free(s.base);
    return status;
}
