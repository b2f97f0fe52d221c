/*
 * outbound.c — requests applications send: new ones (an INVITE becomes
 * a call whose 2xx the application ACKs itself; others a request with
 * its responses), requests in their dialogs (BYE, re-INVITE, INFO,
 * NOTIFY, PRACK ...), the ACK, and CANCEL of their INVITE.  Each gets
 * "OK|<meta>|<transactionId>|Msg sent:|" with the request as it left,
 * and every response comes back as a "sip|network|..." frame with that
 * transactionId (and the dialogId once there is a dialog).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drachtio.h"

void dr_dlg_forget(dr_dlg_t *g);
void dr_dlg_ended(dr_dlg_t *g, sc_str_t bye);

static void call_free(dr_call_t *k)
{
    dr_id_del(k->hub, &k->e);
    dr_list_del(&k->link);
    free(k->sent);
    free(k);
}

static dr_call_t *call_new(dr_conn_t *c, const char *msgid)
{
    dr_call_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    *k = (dr_call_t){ .hub = c->hub, .conn = c };
    k->e.kind = DR_CALL;
    dr_uuid(k->e.id);
    snprintf(k->msgid, sizeof(k->msgid), "%s", msgid);
    dr_id_add(c->hub, &k->e);
    dr_list_add(&c->hub->calls, &k->link);
    return k;
}

/* The transport, host and port of the top Via of a message we sent: the
 * local side, as drachtio reports it for what applications send. */
static void via_of(sc_str_t msg, char *proto, size_t pcap, char *host, size_t hcap, unsigned *port)
{
    snprintf(proto, pcap, "udp");
    host[0] = '\0';
    *port = 0;
    const char *end = msg.s + msg.len;
    for (const char *p = msg.s; p && p + 12 < end; p = memchr(p, '\n', (size_t)(end - p))) {
        p += *p == '\n';
        if (strncasecmp(p, "Via:", 4) && strncasecmp(p, "v:", 2))
            continue;
        const char *s = memchr(p, '/', (size_t)(end - p));
        s = s ? memchr(s + 1, '/', (size_t)(end - s - 1)) : NULL;
        if (s == NULL)
            return;
        size_t n = strcspn(s + 1, " \t");
        for (size_t i = 0; i < n && i + 1 < pcap; i++) {
            proto[i] = (char)(s[1 + i] | 0x20);
            proto[i + 1] = '\0';
        }
        s += 1 + n;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t hn = strcspn(s, ";\r\n");
        char hp[64];
        snprintf(hp, sizeof(hp), "%.*s", (int)(hn < 63 ? hn : 63), s);
        char *colon = strrchr(hp, ':');
        if (colon && !strchr(colon, ']')) {
            *colon = '\0';
            *port = (unsigned)atoi(colon + 1);
        }
        snprintf(host, hcap, "%.63s", hp[0] == '[' ? hp + 1 : hp);
        char *rb = strchr(host, ']');
        if (rb)
            *rb = '\0';
        return;
    }
}

static void reply_ok(dr_conn_t *c, const char *msgid, const char *txn_id, sc_str_t sent)
{
    char proto[8], host[64], meta[200], rest[300];
    unsigned port;
    via_of(sent, proto, sizeof(proto), host, sizeof(host), &port);
    dr_meta(meta, sizeof(meta), "application", sent.len, proto, host, port);
    snprintf(rest, sizeof(rest), "OK|%s|%s|Msg sent:|", meta, txn_id);
    dr_reply(c, msgid, rest, sent);
}

static void on_request(sc_str_t sent, void *arg)
{
    dr_call_t *k = arg;
    char *copy = malloc(sent.len + 1);
    if (copy) {
        memcpy(copy, sent.s, sent.len);
        free(k->sent);
        k->sent = copy;
        k->sent_len = sent.len;
    }
    if (!k->acked) {
        k->acked = true;
        reply_ok(k->conn, k->msgid, k->e.id, sent);
    }
}

/* A response the core made (408, 503 ...) as text, from the request. */
static char *synthesize(const dr_call_t *k, unsigned status, sc_str_t reason, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (f == NULL)
        return NULL;
    fprintf(f, "SIP/2.0 %u %.*s\r\n", status, (int)reason.len, reason.s);
    const char *p = k->sent, *end = k->sent + k->sent_len;
    static const char *const keep[] = { "Via:", "From:", "To:", "Call-ID:", "CSeq:", "v:", "f:",
                                        "t:", "i:", NULL };
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || nl == p || (nl == p + 1 && *p == '\r'))
            break;
        for (const char *const *h = keep; *h; h++)
            if (strncasecmp(p, *h, strlen(*h)) == 0)
                fprintf(f, "%.*s\n", (int)(nl - p), p);
        p = nl + 1;
    }
    fprintf(f, "Content-Length: 0\r\n\r\n");
    fclose(f);
    return out;
}

/* Where the request went (its first Route, else its Request-URI): the
 * response's source as the app sees it (srf's digest retry goes there). */
static void peer_of(sc_str_t msg, char *host, size_t cap, unsigned *port)
{
    const char *end = msg.s + msg.len, *uri = NULL;
    for (const char *p = msg.s; p && p + 7 < end; p = memchr(p, '\n', (size_t)(end - p))) {
        p += *p == '\n';
        if (strncasecmp(p, "Route:", 6) == 0) {
            uri = memchr(p, '<', (size_t)(end - p));
            uri = uri ? uri + 1 : p + 6;
            break;
        }
        if (*p == '\r')
            break;
    }
    if (uri == NULL)
        uri = memchr(msg.s, ' ', msg.len);
    snprintf(host, cap, "127.0.0.1");
    *port = 5060;
    if (uri == NULL)
        return;
    while (*uri == ' ')
        uri++;
    const char *at = uri, *stop = uri + strcspn(uri, ">;? \r\n");
    const char *u = memchr(uri, '@', (size_t)(stop - uri));
    at = u ? u + 1 : memchr(uri, ':', (size_t)(stop - uri));
    if (at == NULL)
        return;
    at += at[0] == ':';
    if (*at == '[') {
        const char *rb = memchr(at, ']', (size_t)(stop - at));
        if (rb == NULL)
            return;
        snprintf(host, cap, "%.*s", (int)(rb - at - 1), at + 1);
        at = rb + 1;
    } else {
        size_t n = strcspn(at, ":>;? \r\n");
        snprintf(host, cap, "%.*s", (int)n, at);
        at += n;
    }
    if (*at == ':')
        *port = (unsigned)atoi(at + 1);
}

static void frame_response(dr_call_t *k, const sc_response_t *r, const char *dialog_id)
{
    if (k->conn == NULL)
        return;
    sc_str_t raw = sc_response_raw(r);
    char *made = NULL;
    size_t len = 0;
    if (raw.len == 0) {
        made = synthesize(k, sc_response_status(r), sc_response_reason(r), &len);
        raw = (sc_str_t){ made, len };
    }
    char proto[8], host[64], meta[200], leader[500];
    unsigned port;
    sc_str_t sent = { k->sent, k->sent_len };
    via_of(sent, proto, sizeof(proto), host, sizeof(host), &port);
    peer_of(sent, host, sizeof(host), &port);
    dr_meta(meta, sizeof(meta), "network", raw.len, proto, host, port);
    snprintf(leader, sizeof(leader), "sip|%s|%s|%s|", meta, k->e.id, dialog_id);
    dr_send(k->conn, leader, raw);
    free(made);
}

static void on_provisional(const sc_response_t *r, void *arg)
{
    frame_response(arg, r, "");
}

static void on_call(sc_dialog_t *d, const sc_response_t *final, void *arg)
{
    dr_call_t *k = arg;
    k->uac = NULL;
    if (d && k->conn == NULL) {
        sc_dialog_destroy(d, NULL, NULL, NULL);     /* nobody to run it */
        d = NULL;
    }
    dr_dlg_t *g = d ? dr_dlg_new(k->hub, k->conn, d) : NULL;
    frame_response(k, final, g ? g->e.id : "");
    call_free(k);
}

static void on_response(const sc_response_t *r, void *arg)
{
    dr_call_t *k = arg;
    frame_response(k, r, k->dialog_id);
    if (sc_response_status(r) >= 200)
        call_free(k);
}

static char *cstr(sc_str_t s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.s, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static void nok(dr_conn_t *c, const char *msgid, const char *why)
{
    char rest[300];
    snprintf(rest, sizeof(rest), "NOK|%s", why);
    dr_reply(c, msgid, rest, (sc_str_t){ 0 });
}

/* The app's BYE again (srf's digest retry of a 401/407): the dialog
 * ended here as the first BYE left, so this one goes where that one
 * went (its Request-URI and Route set) with the app's From, To, Call-ID,
 * CSeq and credentials. */
static void bye_again(dr_conn_t *c, const char *msgid, dr_dlg_t *g, const dr_msg_t *m)
{
    static const char *const none[] = { NULL };
    dr_msg_t first;
    const char *why;
    char local[80], *uri = NULL, **lines = NULL;
    dr_local(c->hub, local, sizeof(local));
    if (dr_msg_parse((sc_str_t){ g->bye, g->bye_len }, &first, &why) != 0 ||
        (uri = cstr(first.uri)) == NULL || (lines = dr_msg_lines(m, none, local)) == NULL) {
        nok(c, msgid, "out of memory");
        goto out;
    }
    /* the first one's Route set, and its From, To (srf's retry has no
     * To), Call-ID where the app gave none */
    static const char *const from_first[] = { "from", "to", "call-id" };
    bool take[DR_MAX_HDRS] = { false };
    size_t n = 0, nr = 0;
    while (lines[n])
        n++;
    for (int i = 0; i < first.nhdr; i++) {
        sc_str_t name = first.hdr[i].name;
        take[i] = name.len == 5 && strncasecmp(name.s, "route", 5) == 0;
        for (size_t j = 0; j < 3 && !take[i]; j++)
            take[i] = name.len == strlen(from_first[j]) &&
                      strncasecmp(name.s, from_first[j], name.len) == 0 && dr_msg_get(m, from_first[j]).len == 0;
        nr += take[i];
    }
    char **more = realloc(lines, (n + nr + 1) * sizeof(*lines));
    if (more == NULL) {
        nok(c, msgid, "out of memory");
        goto out;
    }
    lines = more;
    for (int i = 0; i < first.nhdr; i++)
        if (take[i] && asprintf(&lines[n], "%.*s: %.*s", (int)first.hdr[i].name.len, first.hdr[i].name.s,
                                (int)first.hdr[i].value.len, first.hdr[i].value.s) > 0)
            n++;
    lines[n] = NULL;
    dr_call_t *k = call_new(c, msgid);
    if (k == NULL) {
        nok(c, msgid, "out of memory");
        goto out;
    }
    snprintf(k->dialog_id, sizeof(k->dialog_id), "%s", g->e.id);
    sc_request_opts_t o = { .method = "BYE", .uri = uri, .headers = (const char *const *)lines,
                            .on_request = on_request };
    if (sc_request(c->hub->inst, &o, on_response, k) != 0) {
        nok(c, msgid, "the BYE could not be sent again");
        call_free(k);
    }
out:
    dr_lines_free(lines);
    free(uri);
}

void dr_app_request(dr_conn_t *c, const char *msgid, char **tok, int n, sc_str_t sip,
                    const dr_msg_t *m)
{
    dr_hub_t *h = c->hub;
    char method[32], ctbuf[200], local[80];
    snprintf(method, sizeof(method), "%.*s", (int)m->method.len, m->method.s);
    const char *txn_id = tok[2], *dialog_id = n > 3 ? tok[3] : "";
    const char *route = n > 4 && tok[4][0] ? tok[4] : NULL;
    if (h->inst == NULL) {
        nok(c, msgid, "server reloading");
        return;
    }
    /* CANCEL of an INVITE the app sent */
    if (strcmp(method, "CANCEL") == 0) {
        dr_entry_t *e = txn_id[0] ? dr_id_find(h, txn_id, DR_CALL) : NULL;
        dr_call_t *k = e ? DR_OF(e, dr_call_t, e) : NULL;
        if (k == NULL || k->uac == NULL) {
            nok(c, msgid, "no INVITE in progress with that transaction id");
            return;
        }
        sc_uac_cancel(k->uac);
        char id[37];
        dr_uuid(id);
        reply_ok(c, msgid, id, sip);
        return;
    }
    /* no dialogId, but the Call-ID of a dialog of ours: inside it, as
     * drachtio-server (srf's digest retry of a BYE or re-INVITE) */
    sc_str_t cid = dialog_id[0] ? (sc_str_t){ 0 } : dr_msg_get(m, "call-id");
    for (dr_link_t *l = h->dlgs.next; cid.len && l != &h->dlgs; l = l->next) {
        dr_dlg_t *g = DR_OF(l, dr_dlg_t, link);
        sc_str_t gc = g->d ? sc_dialog_call_id(g->d) : (sc_str_t){ g->call_id, strlen(g->call_id) };
        if (gc.len == cid.len && memcmp(gc.s, cid.s, cid.len) == 0) {
            dialog_id = g->e.id;
            break;
        }
    }
    /* the stop (SIGTERM) has begun: nothing new starts, only what
     * finishes what is up (requests in dialogs: BYE above all; CANCEL).
     * drachtio-server answers a request it cannot send NOK|<reason>,
     * which srf turns into the request's error */
    if (h->stopping && dialog_id[0] == '\0') {
        nok(c, msgid, "server stopping: no new requests");
        return;
    }
    if (strcmp(method, "ACK") == 0 && dialog_id[0] == '\0') {
        nok(c, msgid, "ACK for non-success responses is automatically generated by the stack");
        return;
    }
    /* the core PRACKs a reliable provisional itself (RFC 3262) as it
     * arrives: the app's PRACK (srf sends one) is done already */
    if (strcmp(method, "PRACK") == 0) {
        char id[37];
        dr_uuid(id);
        reply_ok(c, msgid, id, sip);
        return;
    }
    dr_local(h, local, sizeof(local));
    static const char *const none[] = { NULL };
    static const char *const in_dlg[] = { "from", "to", "call-id", "cseq", "max-forwards", NULL };
    char **lines = dr_msg_lines(m, dialog_id[0] ? in_dlg : none, local);
    const char *ctype = dr_msg_ctype(m, ctbuf, sizeof(ctbuf));
    char *body = cstr(m->body), *uri = cstr(m->uri);
    if (lines == NULL || body == NULL || uri == NULL || (m->body.len && ctype == NULL)) {
        nok(c, msgid, lines && body && uri ? "missing content-type" : "out of memory");
        goto out;
    }
    if (dialog_id[0]) {
        dr_entry_t *e = dr_id_find(h, dialog_id, DR_DLG);
        dr_dlg_t *g = e ? DR_OF(e, dr_dlg_t, e) : NULL;
        if (g == NULL) {
            nok(c, msgid, "unable to find dialog for dialog id");
            goto out;
        }
        if (g->d == NULL) {                 /* ended by the app's BYE */
            if (strcmp(method, "BYE") == 0 && g->bye)
                bye_again(c, msgid, g, m);
            else
                nok(c, msgid, "the dialog has ended");
            goto out;
        }
        sc_request_opts_t o = { .method = method, .headers = (const char *const *)lines,
                                .content_type = ctype, .body = m->body, .on_request = on_request };
        dr_call_t *k = call_new(c, msgid);
        if (k == NULL) {
            nok(c, msgid, "out of memory");
            goto out;
        }
        snprintf(k->dialog_id, sizeof(k->dialog_id), "%s", dialog_id);
        if (strcmp(method, "ACK") == 0) {
            if (sc_dialog_ack(g->d, &o, k) != 0)
                nok(c, msgid, "ACK for non-success responses is automatically generated by the stack");
            else if (!k->acked)
                reply_ok(c, msgid, k->e.id, sip);
            call_free(k);
            goto out;
        }
        bool bye = strcmp(method, "BYE") == 0;
        if (sc_dialog_request(g->d, &o, on_response, k) != 0) {
            nok(c, msgid, "the request could not be sent in this dialog");
            call_free(k);
            if (bye)
                dr_dlg_forget(g);           /* it is gone all the same */
            goto out;
        }
        if (!k->acked)                      /* waits for an address: the app's text */
            on_request(sip, k);
        if (bye)                            /* we ended it: no destroy event comes */
            dr_dlg_ended(g, (sc_str_t){ k->sent, k->sent_len });
        goto out;
    }
    dr_call_t *k = call_new(c, msgid);
    if (k == NULL) {
        nok(c, msgid, "out of memory");
        goto out;
    }
    int rc;
    if (strcmp(method, "INVITE") == 0 || strcmp(method, "SUBSCRIBE") == 0) {
        sc_uac_opts_t o = { .uri = uri, .headers = (const char *const *)lines,
                            .local_sdp = m->body.len ? body : NULL, .content_type = ctype,
                            .proxy = route, .on_request = on_request,
                            .on_provisional = on_provisional, .method = method, .own_ack = true };
        k->uac = sc_uac_create(h->inst, &o, on_call, k);
        rc = k->uac ? 0 : -1;
    } else {
        sc_request_opts_t o = { .method = method, .uri = uri, .headers = (const char *const *)lines,
                                .content_type = ctype, .body = m->body, .on_request = on_request };
        rc = sc_request(h->inst, &o, on_response, k);
    }
    if (rc != 0) {
        /* drachtio-server's own words where it has them ("requested
         * protocol/transport not available"): applications match on them */
        const char *why = sc_instance_error(h->inst);
        nok(c, msgid, why[0] ? why : "the request could not be sent (bad URI or no transport)");
        call_free(k);
    }
out:
    dr_lines_free(lines);
    free(body);
    free(uri);
}

void dr_outbound_conn_gone(dr_hub_t *h, dr_conn_t *c)
{
    for (dr_link_t *l = h->calls.next; l != &h->calls; l = l->next) {
        dr_call_t *k = DR_OF(l, dr_call_t, link);
        if (k->conn == c)
            k->conn = NULL;
    }
}
