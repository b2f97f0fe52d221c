/*
 * chain.c — the middleware chain (DESIGN §4): a request visits the links
 * whose methods filter matches, in config order, until one answers it;
 * sc_next passes it on, sc_fail hands it to the next error handler, the
 * end of the chain answers with the configured default.  A handler may
 * finish later, from a timer or I/O callback.
 *
 * Lifetime: a request is freed once its final answer has gone out and no
 * handler call is on the stack (settle()).  One that nobody answers within
 * the request timeout (32 s) gets 500 from the core, and is freed when its
 * module finally lets go of it (any later sc_next/sc_res_send/sc_fail),
 * or at stop; that keeps a slow module from holding a dangling pointer.
 * A request a module proxied, or an INVITE it handed to a B2BUA leg, is
 * not the module's to answer any more: the client transactions' timers
 * end it (timer B or F: 408; timer C once it rings: CANCEL, then 408),
 * so a call rings as long as the phone does.  An INVITE the module
 * itself rang gets 180 s from its last provisional instead (timer C's
 * bound, RING_TIMEOUT_S).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain_impl.h"
#include "respond.h"
#include "sc_log.h"


static void req_free(sc_req_t *req)
{
    sc_chain_t *c = req->chain;
    sc_list_remove(&c->pending, &req->link);
    if (req->timer)
        event_free(req->timer);
    sc_proxy_detach(req->proxy);
    if (req->on_gone)
        req->on_gone(req->taker);
    for (res_hdr_t *h = req->res.hdrs, *n; h; h = n) {
        n = h->next;
        free(h->name);
        free(h->value);
        free(h);
    }
    free(req->res.ctype);
    free(req->res.body);
    free(req->user);
    sc_source_release(&req->src);
    if (req->holds_dialog)
        sc_dialog_release(req->dialog);
    sc_txn_set_tu(req->txn, NULL, NULL);
    sc_txn_unref(req->txn);
    free(req);
}

/* Frees the request when nothing can touch it any more. */
void sc_req_settle(sc_req_t *req)
{
    if (req->done && req->depth == 0 && !req->core_answered)
        req_free(req);
}

static const char *holder(const sc_req_t *req)
{
    const sc_chain_t *c = req->chain;
    return req->pos >= 0 && req->pos < c->n ? c->links[req->pos].label : "the core";
}

/* An INVITE its module rang (a provisional went out) is a call in
 * progress: the request timeout gives way to timer C's bound, 180 s
 * from the last provisional (RFC 3261 §16.6 step 11), so that a module
 * that rings — e.g. a drachtio application's B2BUA — rings as long as
 * its phone does. */
#define RING_TIMEOUT_S 180

/* Sends r, the answer to req, through the dialog hooks. */
static int send_answer(sc_req_t *req, sc_msg_t *r)
{
    req->tagged |= r->status > 100;
    /* a caller that requires 100rel gets every provisional reliably,
     * whether or not the module asked (RFC 3262 §3): the core admitted
     * the INVITE on that promise (server.c) */
    if (r->status > 100 && r->status < 200 && req->msg->method == SC_METHOD_INVITE) {
        bool asked = sc_token_list_has(r->require, "100rel");
        if (!asked && sc_token_list_has(req->msg->require, "100rel") &&
            sc_msg_add_header(r, SC_STR_LIT("Require"), SC_STR_LIT("100rel"), NULL) == 0)
            asked = true;
        if (asked)
            sc_uas_reliable(req, r);
    }
    if (req->dialog)
        sc_dialog_answering(req->dialog, req, r);
    /* a dialog's Contact in name-addr form, whatever form the module
     * wrote (hdr_contact.c); only the form changes */
    if (r->status > 100 && r->status < 300 && sc_method_dialog_contact(req->msg->method))
        sc_msg_contact_name_addr(r);
    int rc = sc_req_forward_response(req, r);
    if (req->dialog)
        sc_dialog_answered(req->dialog, req, r, rc);
    if (rc == 0 && r->status > 100 && r->status < 200 && req->msg->method == SC_METHOD_INVITE &&
        req->timer) {
        struct timeval tv = { .tv_sec = req->chain->request_timeout_s > RING_TIMEOUT_S
                                            ? req->chain->request_timeout_s : RING_TIMEOUT_S };
        evtimer_add(req->timer, &tv);
    }
    sc_msg_free(r);
    return rc;
}

/* The answer to req, or NULL.  A final answer that cannot be built
 * ends the request all the same (its transaction too): nothing later
 * could build one either, and a request held without an owner would
 * keep its transaction slot for good. */
static sc_msg_t *answer_new(sc_req_t *req, unsigned status, const char *reason)
{
    sc_msg_t *r = sc_respond_build(req->msg, &req->src, status, reason, req->to_tag, req->chain->stack.agent);
    if (r == NULL && status >= 200) {
        sc_log(SC_LOG_WARN, "cannot build %u for %.*s from %s:%u: it ends unanswered", status,
               SC_STR_FMT(req->msg->method_str), req->src.peer.ip, req->src.peer.port);
        req->done = true;
        sc_txn_abandon(req->txn);
    } else if (r == NULL) {
        sc_log(SC_LOG_WARN, "cannot build %u for %s:%u", status, req->src.peer.ip, req->src.peer.port);
    }
    return r;
}

/* Sends an answer built from the request and what the module set. */
static int respond(sc_req_t *req, unsigned status, const char *reason, bool with_res)
{
    sc_msg_t *r = answer_new(req, status, reason);
    if (r == NULL)
        return -1;
    if (with_res) {
        for (res_hdr_t *h = req->res.hdrs; h; h = h->next)
            if (sc_msg_add_header(r, sc_str_cstr(h->name), sc_str_cstr(h->value), NULL) != 0)
                sc_log(SC_LOG_WARN, "%s: header \"%s\" not added", holder(req), h->name);
        if (req->res.body)
            sc_msg_set_body(r, sc_str_cstr(req->res.ctype), sc_str(req->res.body, req->res.body_len));
    }
    return send_answer(req, r);
}

int sc_req_answer(sc_req_t *req, unsigned status, const char *reason, const char *const *lines,
                  const char *ctype, sc_str_t body)
{
    if (req->done)
        return -1;
    sc_msg_t *r = answer_new(req, status, reason);
    if (r == NULL)
        return -1;
    if (sc_msg_add_lines(r, lines) != 0)
        sc_log(SC_LOG_WARN, "%s: a header for the %u was not added", holder(req), status);
    if (body.len)
        sc_msg_set_body(r, sc_str_cstr(ctype ? ctype : "application/sdp"), body);
    return send_answer(req, r);
}

/* The CDR of a call received: connected (the 2xx we sent, as a UAS or
 * relayed as a proxy) or ended before it was. */
static void cdr_final(const sc_req_t *req, const sc_msg_t *resp)
{
    if (resp->status < 300)
        sc_cdr_emit(req->chain, "cdr:start", "application", req->proxy ? "proxy-uas" : "uas", NULL,
                    resp->status, resp, req->user);
    else
        sc_cdr_emit(req->chain, "cdr:stop", "application", req->proxy ? "proxy-uas" : "uas",
                    req->cancelled || resp->status == 487 ? "call-canceled" : "call-rejected",
                    resp->status, resp, req->user);
}

int sc_req_forward_response(sc_req_t *req, const sc_msg_t *resp)
{
    if (req->done)
        return -1;
    /* a transaction that refuses (cancelled, transport gone) has ended
     * the request all the same */
    int rc = sc_txn_respond(req->txn, resp);
    if (resp->status >= 200) {
        req->done = true;
        if (req->initial_invite)
            cdr_final(req, resp);
        if (req->on_answered)
            req->on_answered(req->taker, resp->status);    /* may let go of req */
    }
    /* whoever answered: the module's own answer or one a proxy relays */
    if (rc == 0 && req->res.on_sent)
        req->res.on_sent(sc_msg_serialize(resp), req->res.sent_arg);
    return rc;
}

static bool method_matches(const sc_instance_t *in, const sc_req_t *req)
{
    if (in->nmethods == 0)
        return true;
    for (int i = 0; i < in->nmethods; i++)
        if (sc_str_eq_c(req->msg->method_str, in->methods[i]))
            return true;
    return false;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    sc_req_t *req = arg;
    (void)fd;
    (void)what;
    if (req->done)
        return;
    if (req->proxy || (req->taker && req->msg->method == SC_METHOD_INVITE)) {
        sc_log(SC_LOG_DEBUG, "%.*s %.*s from %s:%u: forwarded, its client transactions' timers end it",
               SC_STR_FMT(req->msg->method_str), SC_STR_FMT(req->msg->call_id), req->src.peer.ip,
               req->src.peer.port);
        return;
    }
    sc_log(SC_LOG_WARN, "%.*s %.*s from %s:%u not answered by %s within %u s: answering 500",
           SC_STR_FMT(req->msg->method_str), SC_STR_FMT(req->msg->call_id), req->src.peer.ip,
           req->src.peer.port, holder(req),
           req->tagged && req->msg->method == SC_METHOD_INVITE && req->chain->request_timeout_s < RING_TIMEOUT_S
               ? RING_TIMEOUT_S : req->chain->request_timeout_s);
    respond(req, 500, "Request not answered in time", false);
    req->core_answered = true;      /* the module still holds it: freed on its late call */
    sc_req_settle(req);
}

/* A request the core already answered for a slow module: the module's
 * late call is where it lets go. */
static bool late_call(sc_req_t *req, const char *what)
{
    if (!req->done)
        return false;
    sc_log(SC_LOG_WARN, "%s: %s after the final answer: ignored", holder(req), what);
    if (req->core_answered && req->depth == 0) {
        req->core_answered = false;
        sc_req_settle(req);
    }
    return true;
}

static double inner_time;     /* seconds spent in nested handlers (advance) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Hands the request to the next link after the current one whose methods
 * filter matches and that has the hook wanted (handle, or handle_error
 * when err is set).  Returns false when there is none. */
static bool advance(sc_req_t *req, const sc_error_t *err)
{
    sc_chain_t *c = req->chain;
    for (int i = req->pos + 1; i < c->n; i++) {
        sc_instance_t *in = &c->links[i];
        bool has_hook = err ? in->mod->handle_error != NULL : in->mod->handle != NULL;
        if (!has_hook || !method_matches(in, req))
            continue;
        req->pos = i;
        req->depth++;
        /* the handler's own time: what the links it calls (sc_next runs
         * them now, inside it) take is theirs */
        double outer = inner_time, t0 = now_s();
        inner_time = 0;
        if (err)
            in->mod->handle_error(in, err, req, &req->res);
        else
            in->mod->handle(in, req, &req->res);
        double spent = now_s() - t0;
        sc_metric_observe(in->handle_time, spent - inner_time);
        inner_time = outer + spent;
        req->depth--;
        sc_req_settle(req);
        return true;
    }
    req->pos = c->n;
    return false;
}

void sc_next(sc_req_t *req)
{
    if (late_call(req, "sc_next"))
        return;
    if (!advance(req, NULL)) {
        /* the end of the chain; a request in a dialog none of us runs
         * (a To tag, RFC 3261 §12.2.2) gets 481, not the default */
        respond(req, sc_req_to_tag(req).len ? 481 : req->chain->default_status, NULL, false);
        sc_req_settle(req);
    }
}

void sc_fail(sc_req_t *req, unsigned status, const char *reason)
{
    if (late_call(req, "sc_fail"))
        return;
    sc_error_t err = { status >= 300 && status <= 699 ? status : 500,
                       reason ? reason : "Server Internal Error" };
    sc_log(SC_LOG_INFO, "%s failed %.*s: %u %s", holder(req), SC_STR_FMT(req->msg->method_str),
           err.status, err.reason);
    if (!advance(req, &err)) {
        respond(req, err.status, err.reason, false);    /* nobody caught it */
        sc_req_settle(req);
    }
}

void sc_req_drop(sc_req_t *req)
{
    if (late_call(req, "sc_req_drop"))
        return;
    req->done = true;
    sc_txn_abandon(req->txn);
    sc_req_settle(req);
}

void sc_req_set_trusted(sc_req_t *req) { req->trusted = true; }
bool sc_req_trusted(const sc_req_t *req) { return req->trusted; }

int sc_res_send(sc_res_t *res, unsigned status, const char *reason)
{
    sc_req_t *req = res->req;
    if (late_call(req, "a second final answer"))
        return -1;
    if (status < 100 || status > 699) {
        sc_log(SC_LOG_WARN, "%s: status %u is not a SIP status", holder(req), status);
        return -1;
    }
    int rc = respond(req, status, reason, true);
    sc_req_settle(req);
    return rc;
}

int sc_res_add_header(sc_res_t *res, const char *name, const char *value)
{
    res_hdr_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->name = strdup(name)) == NULL || (h->value = strdup(value)) == NULL) {
        if (h) {
            free(h->name);
            free(h);
        }
        return -1;
    }
    res_hdr_t **t = &res->hdrs;
    while (*t)
        t = &(*t)->next;
    *t = h;
    return 0;
}

int sc_res_set_to_tag(sc_res_t *res, const char *tag)
{
    sc_req_t *req = res->req;
    size_t n = strlen(tag);
    if (req->tagged || req->done || req->dialog || n == 0 || n >= sizeof(req->to_tag) ||
        !sc_is_token(sc_str(tag, n)))
        return -1;
    memcpy(req->to_tag, tag, n + 1);
    return 0;
}

int sc_res_set_body(sc_res_t *res, const char *content_type, sc_str_t body)
{
    /* SDP is what a body almost always is; drachtio-srf sets its type */
    if (content_type == NULL)
        content_type = body.len >= 4 && memcmp(body.s, "v=0", 3) == 0 ? "application/sdp"
                                                                     : "application/octet-stream";
    char *ct = strdup(content_type), *b = malloc(body.len ? body.len : 1);
    if (ct == NULL || b == NULL) {
        free(ct);
        free(b);
        return -1;
    }
    if (body.len)
        memcpy(b, body.s, body.len);
    free(res->ctype);
    free(res->body);
    res->ctype = ct;
    res->body = b;
    res->body_len = body.len;
    return 0;
}

/* The transaction's word to its request: only CANCEL needs an answer
 * here (§9.2: the INVITE gets 487 once the CANCEL got its 200). */
static void on_txn(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg)
{
    sc_req_t *req = arg;
    (void)t;
    if (ev != SC_TXN_EV_CANCELLED || req->done)
        return;
    if (req->proxy) {
        sc_proxy_cancelled(req->proxy);     /* the branches' 487 comes back up */
        return;
    }
    req->cancelled = true;
    if (req->cancel_cb) {
        req->depth++;
        req->cancel_cb(req, msg ? sc_str(msg->buf, msg->len) : SC_STR_NULL, req->cancel_arg);
        req->depth--;
        if (!req->done) {
            respond(req, 487, NULL, false);
            req->core_answered = req->depth == 0;
        }
        sc_req_settle(req);
        return;
    }
    if (req->on_cancel) {
        req->on_cancel(req->taker);         /* it answers 487 and lets go */
        sc_req_settle(req);
        return;
    }
    sc_log(SC_LOG_INFO, "%.*s %.*s cancelled while with %s: 487",
           SC_STR_FMT(req->msg->method_str), SC_STR_FMT(req->msg->call_id), holder(req));
    respond(req, 487, NULL, false);
    if (req->depth == 0)
        req->core_answered = true;  /* the module still holds it: freed on its late call */
    sc_req_settle(req);
}

sc_req_t *sc_req_new(sc_chain_t *c, sc_txn_t *txn, const sc_source_t *src)
{
    sc_req_t *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->chain = c;
    req->pos = -1;
    req->txn = txn;
    sc_txn_ref(txn);
    sc_txn_set_tu(txn, on_txn, req);
    req->msg = (sc_msg_t *)sc_txn_request(txn);
    req->src = *src;
    sc_source_hold(&req->src);
    req->res.req = req;
    sc_gen_tag(req->to_tag, 16);
    sc_list_push(&c->pending, &req->link);
    req->timer = evtimer_new(c->base, on_timeout, req);
    struct timeval tv = { .tv_sec = c->request_timeout_s };
    if (req->timer)
        evtimer_add(req->timer, &tv);
    return req;
}

void sc_chain_run(sc_chain_t *c, sc_txn_t *txn, const sc_source_t *src)
{
    sc_req_t *req = sc_req_new(c, txn, src);
    if (req == NULL)
        return;     /* the transaction ends unanswered; the client retries */
    const sc_msg_t *m = req->msg;
    if (m->method == SC_METHOD_INVITE && (m->to == NULL || m->to->tag.len == 0)) {
        req->initial_invite = true;
        sc_cdr_emit(c, "cdr:attempt", "network", NULL, NULL, 0, m, NULL);
    }
    sc_next(req);
}

void sc_chain_set_request_timeout(sc_chain_t *c, unsigned seconds)
{
    c->request_timeout_s = seconds ? seconds : 1;
}

void sc_chain_set_session_timers(sc_chain_t *c, unsigned expires_s, unsigned min_se_s)
{
    c->session_expires_s = expires_s;
    c->min_se_s = min_se_s ? min_se_s : 90;
}

unsigned sc_chain_pending(const sc_chain_t *c)
{
    return c->pending.n + c->uacs.n + c->proxies.n + c->calls.n + c->ndreqs;
}

unsigned sc_chain_stop_pending(const sc_chain_t *c)
{
    /* proxies and placed requests that only wait out transaction tails
     * are not waited for (see sc_chain_proxies_busy, sc_chain_uacs_busy);
     * a reload still waits for them (sc_chain_pending): its retired chain
     * keeps relaying what they absorb while the process lives on */
    return c->pending.n + sc_chain_uacs_busy(c) + sc_chain_proxies_busy(c) + c->calls.n + c->ndreqs;
}

void sc_chain_set_stack(sc_chain_t *c, const sc_stack_t *stack)
{
    const char *agent = c->stack.agent;     /* the chain's own (its config's) */
    c->stack = *stack;
    c->stack.agent = agent;
}

void sc_chain_set_agent(sc_chain_t *c, const char *agent)
{
    c->stack.agent = agent;
}

void sc_chain_cancel_ringing(sc_chain_t *c)
{
    sc_chain_cancel_proxies(c);
    sc_chain_cancel_calls(c);
}

void sc_chain_abort_pending(sc_chain_t *c)
{
    if (c->uacs.n + c->proxies.n + c->calls.n + c->ndreqs)
        sc_log(SC_LOG_INFO, "stop: %u call(s) placed, %u proxied, %u b2bua, %u request(s) in dialogs still open",
               c->uacs.n, c->proxies.n, c->calls.n, c->ndreqs);
    sc_req_t *req;
    while ((req = sc_list_first(&c->pending, sc_req_t, link)) != NULL) {
        sc_log(SC_LOG_WARN, "stop: %.*s %.*s from %s:%u %s %s%s", SC_STR_FMT(req->msg->method_str),
               SC_STR_FMT(req->msg->call_id), req->src.peer.ip, req->src.peer.port,
               req->done ? "answered, never let go by" : "still with", holder(req), req->done ? "" : ": 503");
        if (!req->done)
            respond(req, 503, "Server Stopping", false);
        req_free(req);
    }
}

/* --- requests as modules read them --------------------------------------- */

sc_str_t sc_req_method(const sc_req_t *req) { return req->msg->method_str; }
sc_str_t sc_req_uri(const sc_req_t *req) { return req->msg->ruri_str; }
sc_str_t sc_req_body(const sc_req_t *req) { return req->msg->body; }
sc_str_t sc_req_to_tag(const sc_req_t *req) { return req->msg->to ? req->msg->to->tag : SC_STR_NULL; }
sc_dialog_t *sc_req_dialog(const sc_req_t *req) { return req->dialog; }
sc_str_t sc_req_raw(const sc_req_t *req) { return sc_str(req->msg->buf, req->msg->len); }
void sc_req_local(const sc_req_t *req, char *out, size_t cap)
{
    sc_source_sentby(&req->src, out, cap);
}
void sc_req_on_cancel(sc_req_t *req, sc_cancel_cb cb, void *arg)
{
    req->cancel_cb = cb;
    req->cancel_arg = arg;
}
void sc_res_on_sent(sc_res_t *res, sc_sent_cb cb, void *arg)
{
    res->on_sent = cb;
    res->sent_arg = arg;
}
const char *sc_req_transport(const sc_req_t *req)
{
    return sc_tp_name(req->src.kind);
}
const char *sc_req_source_ip(const sc_req_t *req) { return req->src.peer.ip; }
uint16_t sc_req_source_port(const sc_req_t *req) { return req->src.peer.port; }

sc_str_t sc_req_header(const sc_req_t *req, const char *name)
{
    sc_hdr_t *h = sc_msg_find_header(req->msg, sc_str_cstr(name));
    return h ? h->value : SC_STR_NULL;
}
