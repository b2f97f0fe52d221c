/*
 * inbound.c — requests from the network handed to applications: the
 * "sip|network|..." frame with a transactionId, the application's
 * answers (responses, or a proxy command), CANCEL, requests and ACKs
 * in the dialogs applications run, and the BYE the core sends on its
 * own (no ACK, session expired) reported as "unsolicited".
 *
 * A dr_txn_t holds its request until a call of ours ended it (an answer,
 * the proxy's final response); a request the core answered meanwhile
 * (its 32 s timeout) is let go by our next call on it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "drachtio.h"

static void txn_free(dr_txn_t *t)
{
    dr_id_del(t->hub, &t->e);
    dr_list_del(&t->link);
    free(t->sent);
    free(t->dialog_id);
    free(t);
}

static void on_sent(sc_str_t sent, void *arg)
{
    dr_txn_t *t = arg;
    char *copy = malloc(sent.len + 1);
    if (copy == NULL)
        return;
    memcpy(copy, sent.s, sent.len);
    free(t->sent);
    t->sent = copy;
    t->sent_len = sent.len;
    /* a proxied request's final response: the proxy command is done */
    if (t->proxy_msgid[0] && sent.len > 12 && sent.s[8] >= '2') {
        dr_reply(t->conn, t->proxy_msgid, "OK|done", (sc_str_t){ 0 });
        txn_free(t);
    }
}

/* Splits "host:port" / "[v6]:port". */
static void split_hostport(const char *hp, char *host, size_t cap, unsigned *port)
{
    const char *colon = strrchr(hp, ':');
    size_t n = colon ? (size_t)(colon - hp) : strlen(hp);
    if (n && hp[0] == '[' && hp[n - 1] == ']') {
        hp++;
        n -= 2;
    }
    snprintf(host, cap, "%.*s", (int)n, hp);
    *port = colon ? (unsigned)atoi(colon + 1) : 5060;
}

/* The network request (or ACK) req as a frame to c. */
static void frame_request(dr_conn_t *c, sc_req_t *req, const char *txn_id, const char *dialog_id)
{
    char meta[200], local[80], host[64], *leader;
    unsigned port;
    sc_str_t raw = sc_req_raw(req);
    sc_req_local(req, local, sizeof(local));
    split_hostport(local, host, sizeof(host), &port);
    dr_meta(meta, sizeof(meta), "network", raw.len, sc_req_transport(req), sc_req_source_ip(req),
            sc_req_source_port(req));
    size_t n = strlen(meta) + strlen(txn_id) + strlen(dialog_id) + strlen(host) + 40;
    if ((leader = malloc(n)) == NULL)
        return;
    snprintf(leader, n, "sip|%s|%s|%s|%s|%u|", meta, txn_id, dialog_id, host, port);
    dr_send(c, leader, raw);
    free(leader);
}

static void on_cancel(sc_req_t *req, sc_str_t cancel, void *arg)
{
    dr_txn_t *t = arg;
    (void)req;
    /* srf finds the INVITE by Call-ID and emits 'cancel' */
    if (t->conn && cancel.len) {
        char meta[200], leader[500];
        dr_meta(meta, sizeof(meta), "network", cancel.len, sc_req_transport(req),
                sc_req_source_ip(req), sc_req_source_port(req));
        snprintf(leader, sizeof(leader), "sip|%s|%s|||", meta, t->e.id);
        dr_send(t->conn, leader, cancel);
    }
    sc_res_send(t->res, 487, NULL);
    txn_free(t);
}

void dr_inbound_deliver(dr_txn_t *t)
{
    frame_request(t->conn, t->req, t->e.id, "");
}

void dr_inbound_fail(dr_txn_t *t, unsigned status, const char *reason)
{
    sc_res_send(t->res, status, reason);
    txn_free(t);
}

static void inbound(dr_hub_t *h, dr_conn_t *c, sc_req_t *req, sc_res_t *res, const char *dialog_id,
                    const char *url);

void dr_inbound(dr_hub_t *h, dr_conn_t *c, sc_req_t *req, sc_res_t *res, const char *dialog_id)
{
    inbound(h, c, req, res, dialog_id, h->conf.outbound);
}

void dr_inbound_connect(dr_hub_t *h, sc_req_t *req, sc_res_t *res, const char *url)
{
    inbound(h, NULL, req, res, NULL, url);
}

static void inbound(dr_hub_t *h, dr_conn_t *c, sc_req_t *req, sc_res_t *res, const char *dialog_id,
                    const char *url)
{
    dr_txn_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        sc_res_send(res, 503, "Out of memory");
        return;
    }
    *t = (dr_txn_t){ .hub = h, .conn = c, .req = req, .res = res, .in_dialog = dialog_id != NULL,
                     .dialog_id = dialog_id ? strdup(dialog_id) : NULL };
    t->e.kind = DR_TXN;
    dr_uuid(t->e.id);
    dr_id_add(h, &t->e);
    dr_list_add(&h->txns, &t->link);
    /* (an INVITE had its 100 Trying from the transaction layer) */
    sc_res_on_sent(res, on_sent, t);
    sc_req_on_cancel(req, on_cancel, t);
    if (c == NULL) {                        /* outbound mode: connect to the app first */
        if (url == NULL || dr_connect_out(h, t, url) != 0)
            dr_inbound_fail(t, 480, "Application unreachable");
        return;
    }
    frame_request(c, req, t->e.id, dialog_id ? dialog_id : "");
}

/* --- dialogs applications run ------------------------------------------------ */

static void dlg_free(dr_dlg_t *g)
{
    dr_id_del(g->hub, &g->e);
    dr_list_del(&g->link);
    if (g->linger)
        event_free(g->linger);
    free(g->bye);
    free(g);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dlg_free(arg);
}

void dr_dlg_drop_ended(dr_hub_t *h)
{
    for (dr_link_t *l = h->dlgs.next, *next; l != &h->dlgs; l = next) {
        next = l->next;
        dr_dlg_t *g = DR_OF(l, dr_dlg_t, link);
        if (g->d == NULL)
            dlg_free(g);
    }
}

/* The app's BYE (as sent) ended it: kept 32 s (64*T1 at the default T1)
 * for a retry with credentials, then gone. */
void dr_dlg_ended(dr_dlg_t *g, sc_str_t bye)
{
    sc_str_t cid = sc_dialog_call_id(g->d);
    snprintf(g->call_id, sizeof(g->call_id), "%.*s", (int)cid.len, cid.s);
    g->d = NULL;
    if (bye.len && (g->bye = malloc(bye.len)) != NULL) {
        memcpy(g->bye, bye.s, bye.len);
        g->bye_len = bye.len;
    }
    struct timeval tv = { .tv_sec = 32 };
    if ((g->linger = evtimer_new(g->hub->base, on_linger, g)) == NULL || evtimer_add(g->linger, &tv) != 0)
        dlg_free(g);
}

static void on_dlg_request(sc_dialog_t *d, sc_dialog_event_t ev, sc_req_t *req, sc_res_t *res,
                           void *arg)
{
    dr_dlg_t *g = arg;
    (void)d;
    (void)ev;
    if (g->conn == NULL) {
        if (res)
            sc_res_send(res, 481, "The application running this dialog has gone");
        return;
    }
    if (res == NULL) {                      /* the ACK */
        char id[37];
        dr_uuid(id);
        frame_request(g->conn, req, id, g->e.id);
        return;
    }
    dr_inbound(g->hub, g->conn, req, res, g->e.id);
}

/* A BYE with the dialog's identity, for the app's records. */
static void unsolicited_bye(dr_dlg_t *g)
{
    sc_dialog_t *d = g->d;
    sc_str_t cid = sc_dialog_call_id(d), lt = sc_dialog_local_tag(d), rt = sc_dialog_remote_tag(d),
             lu = sc_dialog_local_uri(d), ru = sc_dialog_remote_uri(d);
    char local[80], host[64], meta[200], leader[800];
    unsigned port;
    dr_local(g->hub, local, sizeof(local));
    split_hostport(local, host, sizeof(host), &port);
    char *bye = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&bye, &len);
    if (f == NULL)
        return;
    fprintf(f,
            "BYE %.*s SIP/2.0\r\nFrom: <%.*s>;tag=%.*s\r\nTo: <%.*s>;tag=%.*s\r\n"
            "Call-ID: %.*s\r\nCSeq: 1 BYE\r\nReason: SIP;text=\"ended by sipchain\"\r\n"
            "Content-Length: 0\r\n\r\n",
            (int)ru.len, ru.s, (int)lu.len, lu.s, (int)lt.len, lt.s, (int)ru.len, ru.s, (int)rt.len,
            rt.s, (int)cid.len, cid.s);
    fclose(f);
    dr_meta(meta, sizeof(meta), "application", len, "udp", host, port);
    snprintf(leader, sizeof(leader), "sip|%s|unsolicited|%s|", meta, g->e.id);
    dr_send(g->conn, leader, (sc_str_t){ bye, len });
    free(bye);
}

static void on_dlg_destroy(sc_dialog_t *d, sc_dialog_event_t ev, sc_req_t *req, sc_res_t *res,
                           void *arg)
{
    dr_dlg_t *g = arg;
    (void)d;
    (void)ev;
    (void)res;
    if (req == NULL && g->conn && !g->early)    /* the core ended it: tell the app */
        unsolicited_bye(g);
    dlg_free(g);
}

dr_dlg_t *dr_dlg_new(dr_hub_t *h, dr_conn_t *c, sc_dialog_t *d)
{
    dr_dlg_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    *g = (dr_dlg_t){ .hub = h, .conn = c, .d = d };
    g->e.kind = DR_DLG;
    snprintf(g->e.id, sizeof(g->e.id), "%s", sc_dialog_id(d));
    dr_id_add(h, &g->e);
    dr_list_add(&h->dlgs, &g->link);
    sc_dialog_on(d, SC_DIALOG_REQUEST, on_dlg_request, g);
    sc_dialog_on(d, SC_DIALOG_DESTROY, on_dlg_destroy, g);
    return g;
}

void dr_dlg_forget(dr_dlg_t *g) { dlg_free(g); }

static dr_dlg_t *dlg_of(dr_hub_t *h, sc_dialog_t *d)
{
    dr_entry_t *e = dr_id_find(h, sc_dialog_id(d), DR_DLG);
    dr_dlg_t *g = e ? DR_OF(e, dr_dlg_t, e) : NULL;
    return g && g->d == d ? g : NULL;
}

/* --- what applications answer ------------------------------------------------- */

/* Where the answer leaves from, read before answering (a final answer
 * frees the request). */
typedef struct {
    char        host[64];
    unsigned    port;
    const char *proto;
} dr_from_t;

static void from_of(sc_req_t *req, dr_from_t *f)
{
    char local[80];
    sc_req_local(req, local, sizeof(local));
    split_hostport(local, f->host, sizeof(f->host), &f->port);
    f->proto = sc_req_transport(req);
}

static void reply_sent(dr_conn_t *c, const char *msgid, dr_txn_t *t, const dr_from_t *f,
                       const char *dialog_id)
{
    char meta[200], *rest;
    dr_meta(meta, sizeof(meta), "application", t->sent_len, f->proto, f->host, f->port);
    size_t n = strlen(meta) + strlen(t->e.id) + strlen(dialog_id) + 40;
    if ((rest = malloc(n)) == NULL)
        return;
    snprintf(rest, n, "OK|%s|%s|%s||Msg sent:|", meta, t->e.id, dialog_id);
    dr_reply(c, msgid, rest, (sc_str_t){ t->sent, t->sent_len });
    free(rest);
}

static bool makes_dialog(sc_str_t method)
{
    return (method.len == 6 && memcmp(method.s, "INVITE", 6) == 0) ||
           (method.len == 9 && memcmp(method.s, "SUBSCRIBE", 9) == 0);
}

void dr_app_response(dr_conn_t *c, const char *msgid, dr_txn_t *t, const dr_msg_t *m)
{
    char ctbuf[200], local[80];
    static const char *const skip[] = { "from", "to", "call-id", "cseq", NULL };
    dr_local(t->hub, local, sizeof(local));
    char **lines = dr_msg_lines(m, skip, local);
    const char *ctype = dr_msg_ctype(m, ctbuf, sizeof(ctbuf));
    char reason[128];
    snprintf(reason, sizeof(reason), "%.*s", (int)m->reason.len, m->reason.s);
    if (lines == NULL || (m->body.len && ctype == NULL)) {
        dr_lines_free(lines);
        dr_reply(c, msgid, lines ? "NOK|missing content-type" : "NOK|out of memory", (sc_str_t){ 0 });
        return;
    }
    bool final = m->status >= 200;
    int rc = -1;
    /* the app's own To tag on its first answer (srf: headers.To with tag=) */
    sc_str_t to = t->in_dialog ? (sc_str_t){ 0 } : dr_msg_get(m, "to");
    const char *tp = to.len > 5 ? memmem(to.s, to.len, ";tag=", 5) : NULL;
    if (tp) {
        char tag[65];
        size_t n = strcspn(tp + 5, "; \t\r\n>");
        snprintf(tag, sizeof(tag), "%.*s", (int)(n < 64 ? n : 64), tp + 5);
        sc_res_set_to_tag(t->res, tag);
    }
    dr_from_t from;
    from_of(t->req, &from);
    sc_dialog_t *d = NULL;
    bool via_uas = m->status < 300 && final && !t->in_dialog && makes_dialog(sc_req_method(t->req));
    if (via_uas) {
        char *sdp = malloc(m->body.len + 1);
        if (sdp) {
            memcpy(sdp, m->body.s, m->body.len);
            sdp[m->body.len] = '\0';
            sc_uas_opts_t o = { .local_sdp = m->body.len ? sdp : NULL, .content_type = ctype,
                                .headers = (const char *const *)lines };
            d = sc_uas_create(t->req, t->res, &o);
            rc = d ? 0 : -1;
            free(sdp);
        }
    } else {
        rc = 0;
        for (char **l = lines; *l && rc == 0; l++) {
            char *colon = strchr(*l, ':');
            *colon = '\0';
            rc = sc_res_add_header(t->res, *l, colon + 2);
        }
        if (rc == 0 && m->body.len)
            rc = sc_res_set_body(t->res, ctype, m->body);
        if (rc == 0)
            rc = sc_res_send(t->res, m->status, reason[0] ? reason : NULL);
    }
    dr_lines_free(lines);
    if (rc != 0) {
        dr_reply(c, msgid, "NOK|the request is no longer answerable (cancelled, timed out or answered)",
                 (sc_str_t){ 0 });
        if (final) {
            if (via_uas)    /* answers it, or lets go of it (sc_uas_create's 422) */
                sc_res_send(t->res, 500, "Server Internal Error");
            txn_free(t);
        }
        return;
    }
    /* the dialog: made by the 2xx, or early by a reliable 1xx (its PRACK
     * goes to the app in it), the same one when the 2xx follows */
    sc_dialog_t *dd = d ? d : !final && !t->in_dialog ? sc_req_dialog(t->req) : NULL;
    dr_dlg_t *g = dd ? dlg_of(t->hub, dd) : NULL;
    if (dd && g == NULL && (g = dr_dlg_new(t->hub, t->conn ? t->conn : c, dd)) != NULL)
        g->early = d == NULL;
    else if (g && d)
        g->early = false;
    /* srf keys the ACK (or PRACK) callback of res.send(..., fnAck) on
     * the dialog id echoed here: an answer in a dialog (a re-INVITE's
     * 2xx) names its dialog, as drachtio-server's do */
    reply_sent(c, msgid, t, &from, g ? g->e.id : t->dialog_id ? t->dialog_id : "");
    if (final)
        txn_free(t);
}

/* "5s", "500ms", "" (default) as whole seconds (rounded up). */
static unsigned seconds(const char *v, unsigned dflt)
{
    if (v == NULL || *v == '\0')
        return dflt;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (strcmp(end, "ms") == 0)
        return (unsigned)((n + 999) / 1000);
    return (unsigned)n;
}

static void on_attempt(const char *target, const sc_response_t *r, void *arg)
{
    dr_txn_t *t = arg;
    (void)target;
    sc_str_t raw = sc_response_raw(r);
    if (!t->proxy_full || raw.len == 0 || t->conn == NULL)
        return;
    char meta[200], rest[300];
    dr_meta(meta, sizeof(meta), "network", raw.len, "udp", "", 0);
    snprintf(rest, sizeof(rest), "OK|%s|||continue", meta);
    dr_reply(t->conn, t->proxy_msgid, rest, raw);
}

void dr_app_proxy(dr_conn_t *c, const char *msgid, char **tok, int n, sc_str_t sip)
{
    dr_entry_t *e = n > 9 ? dr_id_find(c->hub, tok[2], DR_TXN) : NULL;
    if (e == NULL) {
        dr_reply(c, msgid, n > 9 ? "NOK|unknown transaction id" : "NOK|proxy: no destination",
                 (sc_str_t){ 0 });
        return;
    }
    dr_txn_t *t = DR_OF(e, dr_txn_t, e);
    dr_msg_t m;
    const char *why;
    static const char *const skip[] = { "from", "to", "call-id", "cseq", "max-forwards", NULL };
    char **lines = sip.len && dr_msg_parse(sip, &m, &why) == 0 ? dr_msg_lines(&m, skip, NULL) : NULL;
    const char *targets[DR_MAX_TOKENS];
    int nt = 0;
    for (int i = 9; i < n; i++)
        if (tok[i][0])
            targets[nt++] = tok[i];
    targets[nt] = NULL;
    sc_proxy_opts_t o = {
        .targets = targets,
        .parallel = strcmp(tok[6], "simultaneous") == 0,
        .record_route = strcmp(tok[3], "remainInDialog") == 0,
        .follow_redirects = strcmp(tok[5], "followRedirects") == 0,
        .provisional_timeout_s = seconds(tok[7], 0),
        .final_timeout_s = seconds(tok[8], 0),
        .on_attempt = on_attempt,
        .attempt_arg = t,
        .headers = (const char *const *)lines,
    };
    t->proxy_full = strcmp(tok[4], "fullResponse") == 0;
    snprintf(t->proxy_msgid, sizeof(t->proxy_msgid), "%s", msgid);
    t->conn = c;
    int rc = nt ? sc_proxy_request(t->req, &o) : -1;
    dr_lines_free(lines);
    if (rc != 0) {
        t->proxy_msgid[0] = '\0';
        dr_reply(c, msgid, "NOK|the request cannot be proxied", (sc_str_t){ 0 });
    }
}

void dr_inbound_conn_gone(dr_hub_t *h, dr_conn_t *c)
{
    for (dr_link_t *l = h->txns.next, *next; l != &h->txns; l = next) {
        next = l->next;
        dr_txn_t *t = DR_OF(l, dr_txn_t, link);
        if (t->conn != c)
            continue;
        t->conn = NULL;
        if (t->proxy_msgid[0])
            continue;                       /* the proxy goes on without it */
        sc_res_send(t->res, 503, "The application handling this request has gone");
        txn_free(t);
    }
    for (dr_link_t *l = h->dlgs.next; l != &h->dlgs; l = l->next) {
        dr_dlg_t *g = DR_OF(l, dr_dlg_t, link);
        if (g->conn == c)
            g->conn = NULL;
    }
}

void dr_inbound_stop(dr_hub_t *h)
{
    for (dr_link_t *l = h->txns.next, *next; l != &h->txns; l = next) {
        next = l->next;
        dr_txn_t *t = DR_OF(l, dr_txn_t, link);
        /* a proxy is the core's to CANCEL; a call that rings is a call the
         * application holds: it may still be answered within stop_timeout */
        bool rings = t->sent && t->sent_len > 12 && t->sent[8] == '1' && memcmp(t->sent + 9, "00", 2) != 0;
        if (t->proxy_msgid[0] || rings)
            continue;
        if (t->conn && t->conn->handover == t)
            t->conn->handover = NULL;       /* an outbound connection not yet authenticated */
        sc_req_on_cancel(t->req, NULL, NULL);
        dr_inbound_fail(t, 503, "Server Stopping");
    }
}

void dr_inbound_forget(dr_hub_t *h)
{
    while (h->txns.next != &h->txns) {
        dr_txn_t *t = DR_OF(h->txns.next, dr_txn_t, link);
        if (t->conn && t->conn->handover == t)
            t->conn->handover = NULL;
        txn_free(t);
    }
}
