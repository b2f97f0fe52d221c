/*
 * request.c — requests a module sends itself, outside any dialog
 * (sc_request, drachtio-srf's srf.request): built here, routed by the
 * transport set (§18.1.1), run by a client transaction, their responses
 * handed to the module's callback.
 *
 * Ownership: each outstanding request is a uac_t on its chain's list
 * until its transaction terminates; the chain counts it as pending, so a
 * reload keeps the old chain (and the module's code) until the answer
 * is in.  Dropping the list (chain freed at stop) silences callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "chain_impl.h"
#include "sc_log.h"

struct uac {
    sc_chain_t    *chain;
    sc_instance_t *inst;
    sc_response_cb cb;
    void          *arg;
    sc_txn_t      *txn;
    bool           final;       /* the final response was delivered */
    uac_t         *prev, *next;
};

struct sc_response {
    const sc_msg_t *msg;        /* NULL for a synthesized 408 / 503 */
    unsigned        status;
    const char     *reason;
};

unsigned sc_response_status(const sc_response_t *r) { return r->status; }
sc_str_t sc_response_reason(const sc_response_t *r)
{
    return r->msg ? r->msg->reason : sc_str_cstr(r->reason);
}
sc_str_t sc_response_body(const sc_response_t *r)
{
    return r->msg ? r->msg->body : SC_STR_NULL;
}
sc_str_t sc_response_header(const sc_response_t *r, const char *name)
{
    sc_hdr_t *h = r->msg ? sc_msg_find_header(r->msg, sc_str_cstr(name)) : NULL;
    return h ? h->value : SC_STR_NULL;
}

static void uac_unlink(uac_t *u)
{
    sc_chain_t *c = u->chain;
    if (u->prev)
        u->prev->next = u->next;
    else
        c->uacs = u->next;
    if (u->next)
        u->next->prev = u->prev;
    c->nuacs--;
}

static void deliver(uac_t *u, const sc_response_t *res)
{
    if (u->final)
        return;
    u->final = res->status >= 200;
    u->cb(res, u->arg);
}

static void on_txn(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg)
{
    uac_t *u = arg;
    (void)t;
    switch (ev) {
    case SC_TXN_EV_RESPONSE: {
        sc_response_t r = { .msg = msg, .status = msg->status };
        deliver(u, &r);
        break;
    }
    case SC_TXN_EV_TIMEOUT: {
        sc_response_t r = { .status = 408, .reason = "Request Timeout" };
        deliver(u, &r);
        break;
    }
    case SC_TXN_EV_TRANSPORT_ERROR: {
        sc_response_t r = { .status = 503, .reason = "Service Unavailable (transport error)" };
        deliver(u, &r);
        break;
    }
    case SC_TXN_EV_TERMINATED:
        uac_unlink(u);
        free(u);
        break;
    default:
        break;
    }
}

void sc_chain_drop_uacs(sc_chain_t *c)
{
    while (c->uacs) {
        uac_t *u = c->uacs;
        sc_txn_set_tu(u->txn, NULL, NULL);
        uac_unlink(u);
        free(u);
    }
}

/* The destination a Request-URI names: numeric host, port, transport. */
int sc_uri_target(const sc_uri_t *u, struct sockaddr_storage *to, socklen_t *len,
                  sc_tp_kind_t *kind)
{
    char host[INET6_ADDRSTRLEN];
    if (u->host.len >= sizeof(host))
        return -1;
    memcpy(host, u->host.s, u->host.len);
    host[u->host.len] = '\0';
    uint16_t port = sc_uri_port_or_default(u);
    memset(to, 0, sizeof(*to));
    struct sockaddr_in *v4 = (struct sockaddr_in *)to;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)to;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof(*v6);
    } else {
        return -1;
    }
    *kind = u->scheme == SC_URI_SIPS || sc_str_caseeq_c(u->transport, "tls") ? SC_TP_TLS
          : sc_str_caseeq_c(u->transport, "tcp")                              ? SC_TP_TCP
                                                                              : SC_TP_UDP;
    return 0;
}

static bool given(const sc_request_opts_t *o, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *h = o->headers; h && *h; h++)
        if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
            return true;
    return false;
}

/* The request without its Via (which needs the route, which needs the
 * size). */
static sc_msg_t *build(const sc_request_opts_t *o, sc_method_t method, const char *host)
{
    sc_msg_t *m = sc_msg_new_request(method, sc_str_cstr(o->method), sc_str_cstr(o->uri));
    if (m == NULL)
        return NULL;
    char tag[17], cid[80], line[600];
    int rc = sc_msg_add_header(m, SC_STR_LIT("Max-Forwards"), SC_STR_LIT("70"), NULL);
    if (!given(o, "From")) {
        sc_gen_tag(tag, 16);
        snprintf(line, sizeof(line), "<sip:sipchain@%s>;tag=%s", host, tag);
        rc |= sc_msg_add_header(m, SC_STR_LIT("From"), sc_str_cstr(line), NULL);
    }
    if (!given(o, "To")) {
        snprintf(line, sizeof(line), "<%s>", o->uri);
        rc |= sc_msg_add_header(m, SC_STR_LIT("To"), sc_str_cstr(line), NULL);
    }
    if (!given(o, "Call-ID")) {
        sc_gen_tag(cid, 24);
        rc |= sc_msg_add_header(m, SC_STR_LIT("Call-ID"), sc_str_cstr(cid), NULL);
    }
    if (!given(o, "CSeq")) {
        snprintf(line, sizeof(line), "1 %s", o->method);
        rc |= sc_msg_add_header(m, SC_STR_LIT("CSeq"), sc_str_cstr(line), NULL);
    }
    for (const char *const *h = o->headers; rc == 0 && h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (colon == NULL) {
            rc = -1;
            break;
        }
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        rc = sc_msg_add_header(m, sc_str(*h, (size_t)(colon - *h)), sc_str_cstr(v), NULL);
    }
    if (rc == 0 && o->body.len)
        rc = sc_msg_set_body(m, sc_str_cstr(o->content_type ? o->content_type : "text/plain"), o->body);
    if (rc != 0 || m->from == NULL || m->to == NULL || !m->has_cseq || m->call_id.len == 0) {
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

int sc_request(sc_instance_t *inst, const sc_request_opts_t *o, sc_response_cb cb, void *arg)
{
    sc_chain_t *c = inst->chain;
    sc_uri_t uri;
    struct sockaddr_storage to;
    socklen_t len;
    sc_tp_kind_t kind;
    char err[256];
    if (c->stack.txns == NULL || o->method == NULL || o->uri == NULL || cb == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: no method, URI or callback");
        return -1;
    }
    sc_method_t method = sc_method_from_str(sc_str_cstr(o->method));
    if (method == SC_METHOD_INVITE || method == SC_METHOD_ACK || method == SC_METHOD_CANCEL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: %s needs a dialog or a transaction",
                        o->method);
        return -1;
    }
    const char *bad = sc_uri_parse(&uri, sc_str_cstr(o->uri));
    if (bad || (uri.scheme != SC_URI_SIP && uri.scheme != SC_URI_SIPS) ||
        sc_uri_target(&uri, &to, &len, &kind) != 0) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: cannot send to %s: %s", o->uri,
                        bad ? bad : "the host must be a numeric sip: or sips: address");
        return -1;
    }
    sc_msg_t *m = build(o, method, "sipchain.invalid");
    if (m == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: cannot build %s (bad header?)",
                        o->method);
        return -1;
    }
    /* the size decides the transport, which decides our address in From
     * and Via: route on a draft, then build for real */
    sc_tp_route_t route;
    size_t size = sc_msg_print(m, NULL, 0) + 160;   /* with the Via to come */
    sc_msg_free(m);
    if (sc_tp_route(c->stack.tps, kind, (struct sockaddr *)&to, len, size, &route, err,
                    sizeof(err)) != 0) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: %s %s: %s", o->method, o->uri, err);
        return -1;
    }
    if ((m = build(o, method, route.sentby)) == NULL)
        return -1;
    char branch[32], via[160];
    sc_gen_branch(branch, 24);
    snprintf(via, sizeof(via), "SIP/2.0/%s %s;branch=%s;rport", sc_tp_via_name(route.kind),
             route.sentby, branch);
    uac_t *u = calloc(1, sizeof(*u));
    if (u == NULL || sc_msg_add_header_first(m, SC_STR_LIT("Via"), sc_str_cstr(via), NULL) != 0) {
        free(u);
        sc_msg_free(m);
        return -1;
    }
    *u = (uac_t){ .chain = c, .inst = inst, .cb = cb, .arg = arg };
    u->txn = sc_txn_client_new(c->stack.txns, m, &route.flow, on_txn, u);
    if (u->txn == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: %s %s: cannot send", o->method,
                        o->uri);
        free(u);
        return -1;
    }
    u->next = c->uacs;
    if (c->uacs)
        c->uacs->prev = u;
    c->uacs = u;
    c->nuacs++;
    return 0;
}
