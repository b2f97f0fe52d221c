/*
 * proxy.c — the stateful proxy of RFC 3261 §16 behind sc_proxy_request
 * (drachtio's proxyRequest), and the stateless relay of end-to-end ACKs.
 *
 * A proxy context has one server transaction (the request's, referenced
 * here so that late 2xx still reach upstream after the request itself is
 * gone) and one client transaction per branch.  It lives until every
 * branch has terminated; the chain counts it as pending so a reload does
 * not pull it away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chain_impl.h"
#include "respond.h"
#include "sc_log.h"
#include "sip_metrics.h"

#define MAX_TARGETS 16
#define LOOP_REASON "Loop Detected (the next hop is this server)"

/* What a header row still holds once its first element is taken off,
 * given where the element after it starts: empty when the row held that
 * one alone (the next, if any, is on a row of its own). */
static sc_str_t row_rest(sc_str_t row, const char *next)
{
    if (next == NULL || next < row.s || next >= row.s + row.len)
        return SC_STR_NULL;
    return sc_str(next, (size_t)(row.s + row.len - next));
}

/* §16.6 steps 3–5 for a request going on, after its new Via: every
 * header of o but Content-Length, Max-Forwards one less (70 when
 * absent), rr (when given) on top of the
 * Record-Routes already there so rows of one name stay together; then
 * the body.  0 or -1. */
static int copy_onward(sc_msg_t *m, const sc_msg_t *o, const char *rr)
{
    char mf[16];
    int rc = 0;
    for (const sc_hdr_t *h = o->hdr_first; h && rc == 0; h = h->next) {
        sc_str_t v = h->value;
        if (rr && h->id == SC_HDR_RECORD_ROUTE) {
            rc |= sc_msg_add_header(m, SC_STR_LIT("Record-Route"), sc_str_cstr(rr), NULL);
            rr = NULL;
        }
        if (h->id == SC_HDR_CONTENT_LENGTH)
            continue;
        if (h->id == SC_HDR_MAX_FORWARDS) {
            snprintf(mf, sizeof(mf), "%d", o->max_forwards > 0 ? o->max_forwards - 1 : 0);
            v = sc_str_cstr(mf);
        }
        rc |= sc_msg_add_header(m, h->name, v, NULL);
    }
    if (rr)
        rc |= sc_msg_add_header(m, SC_STR_LIT("Record-Route"), sc_str_cstr(rr), NULL);
    if (o->max_forwards < 0)
        rc |= sc_msg_add_header(m, SC_STR_LIT("Max-Forwards"), SC_STR_LIT("70"), NULL);
    return rc == 0 ? sc_msg_set_body(m, SC_STR_NULL, o->body) : -1;
}

#define BRANCH_TXNS SC_MAX_TARGETS  /* one per address of a resolved target */

typedef struct branch {
    struct proxy  *p;
    sc_txn_t      *txn;         /* the current address's; NULL once terminated */
    sc_txn_t      *txns[BRANCH_TXNS];   /* every one still running (RFC 3263 failover) */
    unsigned       ntxns;
    /* a host name: its addresses (RFC 3263), tried in turn while they
     * fail before answering */
    sc_resolve_t  *resolving;
    char          *target;
    char          *host;        /* the next hop's host as its URI names it (TLS:
                                   SNI and the certificate's name); NULL: a flow */
    const char    *path;        /* the proxy's copy: its Route */
    sc_target_t   *addrs;       /* malloc'd: most branches go to one numeric address */
    int            naddrs, addr_at;
    /* the address the current transaction went to: a request moved from
     * UDP to TCP for its size goes again over UDP when TCP fails */
    struct sockaddr_storage to;
    socklen_t      tolen;
    bool           by_size;     /* the current one went over TCP for its size */
    bool           udp_only;    /* a registered UDP flow, or TCP failed: never TCP */
    unsigned       status;      /* best seen so far */
    char          *reason;      /* our own final's phrase when it names a cause
                                   (DNS); NULL: the status's plain one */
    bool           final;
    bool           cancel_wanted;   /* a CANCEL waits for a provisional (§9.1) */
    bool           cancel_sent;
    struct branch *next;
} branch_t;

typedef struct proxy {
    sc_chain_t    *chain;
    sc_req_t      *req;         /* NULL once the request is gone */
    sc_txn_t      *stxn;
    char          *targets[MAX_TARGETS];
    int            ntargets, next_target;
    bool           parallel, record_route, follow_redirects;
    int            redirects;   /* 3xx followed so far */
    bool           timer_c_fired;   /* what it cancelled answers 408 upstream */
    bool           looped;      /* a target's address was ours: not sent (482) */
    unsigned       prov_timeout_s, final_timeout_s;
    branch_t      *branches;
    int            live;        /* branches whose transaction runs */
    sc_msg_t      *best;        /* the best final so far, ready to relay */
    bool           answered;    /* a final went upstream */
    bool           stop;        /* no new branches: cancelled, 2xx or 6xx */
    struct event  *timer_c;
    struct event  *prov_timer;
    struct event  *cancel_guard;    /* §9.1: 64*T1 after our CANCELs, no more waiting */
    void         (*on_attempt)(const char *target, const sc_response_t *r, void *arg);
    void          *attempt_arg;
    /* per target (contacts): its Route (a Path), where it registered from, its q */
    char          *path[MAX_TARGETS], *received[MAX_TARGETS];
    char          *hop[MAX_TARGETS];    /* where it goes instead (no Route): a next hop */
    int            q[MAX_TARGETS];
    bool           by_q;        /* fork by q groups */
    char         **add, **drop; /* header lines added / names removed */
    sc_link_t      link;        /* on the chain's list */
} proxy_t;

static void proxy_free(proxy_t *p)
{
    sc_chain_t *c = p->chain;
    sc_list_remove(&c->proxies, &p->link);
    for (branch_t *b = p->branches, *n; b; b = n) {
        n = b->next;
        for (int i = 0; i < BRANCH_TXNS; i++)
            if (b->txns[i])
                sc_txn_set_tu(b->txns[i], NULL, NULL);
        if (b->resolving)
            sc_resolve_cancel(b->resolving);
        free(b->addrs);
        free(b->target);
        free(b->host);
        free(b->reason);
        free(b);
    }
    for (int i = 0; i < p->ntargets; i++) {
        free(p->targets[i]);
        free(p->path[i]);
        free(p->received[i]);
        free(p->hop[i]);
    }
    for (char **h = p->add; h && *h; h++)
        free(*h);
    for (char **h = p->drop; h && *h; h++)
        free(*h);
    free(p->add);
    free(p->drop);
    if (p->req)
        p->req->proxy = NULL;
    sc_msg_free(p->best);
    sc_txn_unref(p->stxn);
    if (p->timer_c)
        event_free(p->timer_c);
    if (p->prov_timer)
        event_free(p->prov_timer);
    if (p->cancel_guard)
        event_free(p->cancel_guard);
    free(p);
}

void sc_proxy_detach(proxy_t *p)
{
    if (p)
        p->req = NULL;
}

static void cancel_all(proxy_t *p);

void sc_chain_cancel_proxies(sc_chain_t *c)
{
    for (proxy_t *p = sc_list_first(&c->proxies, proxy_t, link), *n; p; p = n) {
        n = sc_list_next(p, proxy_t, link);
        const sc_msg_t *m = sc_txn_request(p->stxn);
        if (p->answered || p->stop || m == NULL || m->method != SC_METHOD_INVITE)
            continue;
        sc_log(SC_LOG_INFO, "stop: cancelling the branches of proxied INVITE %.*s",
               SC_STR_FMT(m->call_id));
        cancel_all(p);
    }
}

/* Proxies the stop waits for: those still at work.  One answered
 * upstream whose every branch has its final answer (and no name left to
 * resolve) only waits out its transactions' tails: the client INVITE
 * transactions' Accepted (RFC 6026 §7.2, 64*T1 taking further 2xx to
 * relay, §16.7 step 5) or Completed state (Timer D: absorbing final
 * retransmissions, ACKing them), the non-INVITE ones' Timer K, and the
 * server transaction held with them.  None of that keeps a call up, so
 * the stop does not wait for it; the loop ends and they are dropped.
 * What is lost is only absorbing: once sipchain is gone a retransmitted
 * non-2xx final finds no one to ACK it, and a retransmitted 2xx (the
 * callee did not get its ACK) is not relayed — but a proxy that did not
 * record-route is not in the dialog, the ACK goes end to end and is the
 * caller's own business (§13.3.1.4, §17.1.1.3 keeps the 2xx's ACK out
 * of any transaction); with record-route the dialog is ours and the
 * stop's BYEs end it.  A branch still without a final (ringing; or a
 * fork that another branch's 2xx CANCELled, waiting for its 487, or for
 * a further 2xx) is still counted: those are CANCELled or waited for. */
unsigned sc_chain_proxies_busy(const sc_chain_t *c)
{
    unsigned n = 0;
    for (const proxy_t *p = sc_list_first(&c->proxies, proxy_t, link); p;
         p = sc_list_next(p, proxy_t, link)) {
        bool tails_only = p->answered;
        for (const branch_t *b = p->branches; tails_only && b; b = b->next)
            tails_only = b->final && b->resolving == NULL;
        n += !tails_only;
    }
    return n;
}

void sc_chain_drop_proxies(sc_chain_t *c)
{
    proxy_t *p;
    while ((p = sc_list_first(&c->proxies, proxy_t, link)) != NULL)
        proxy_free(p);
}

/* --- responses upstream -------------------------------------------------- */

/* The response minus its top Via (ours), for relaying (§16.7 step 9). */
static sc_msg_t *relayable(const sc_msg_t *resp)
{
    sc_msg_t *r = sc_msg_new_response(resp->status, resp->reason);
    if (r == NULL)
        return NULL;
    bool first = true;
    for (const sc_hdr_t *h = resp->hdr_first; h; h = h->next) {
        sc_str_t v = h->value;
        if (h->id == SC_HDR_CONTENT_LENGTH)
            continue;
        if (h->id == SC_HDR_VIA && first) {
            first = false;
            v = row_rest(v, resp->via && resp->via->next ? resp->via->next->raw.s : NULL);
            if (v.len == 0)
                continue;                       /* ours had the row to itself */
        }
        if (sc_msg_add_header(r, h->name, v, NULL) != 0) {
            sc_msg_free(r);
            return NULL;
        }
    }
    if (sc_msg_set_body(r, SC_STR_NULL, resp->body) != 0) {
        sc_msg_free(r);
        return NULL;
    }
    return r;
}

static void relay(proxy_t *p, const sc_msg_t *r)
{
    if (p->req)
        sc_req_forward_response(p->req, r);
    else
        sc_txn_respond(p->stxn, r);     /* a late 2xx, the request gone */
    if (r->status >= 200)
        p->answered = true;
}

/* §16.7 step 6: 6xx first, else the lowest class; 503 counts as 500
 * upstream would retry elsewhere anyway, so it is just a 5xx here. */
static bool better(unsigned a, unsigned b)
{
    if (b == 0)
        return true;
    if ((a >= 600) != (b >= 600))
        return a >= 600;
    return a / 100 < b / 100;
}

/* §16.7 step 7: the challenges of every 401/407 go up together. */
static void merge_challenges(sc_msg_t *best, const sc_msg_t *resp)
{
    if (best == NULL || best == resp)
        return;
    for (const sc_hdr_t *h = resp->hdr_first; h; h = h->next)
        if (h->id == SC_HDR_WWW_AUTHENTICATE || h->id == SC_HDR_PROXY_AUTHENTICATE)
            sc_msg_add_header(best, h->name, h->value, NULL);
}

static void start_next(proxy_t *p);
static void branch_final(branch_t *b, unsigned status, const sc_msg_t *resp);

/* Every branch done and nothing more to try: the best answer goes up. */
static void maybe_finish(proxy_t *p)
{
    if (p->answered)
        return;
    for (branch_t *b = p->branches; b; b = b->next)
        if (!b->final)
            return;
    if (!p->stop && p->next_target < p->ntargets) {
        start_next(p);
        return;
    }
    if (p->best)
        relay(p, p->best);
    else if (p->req) {
        const char *agent = p->chain->stack.agent;
        sc_msg_t *r = p->looped ? sc_respond_build(p->req->msg, &p->req->src, 482, LOOP_REASON,
                                                   p->req->to_tag, agent)
                                : sc_respond_build(p->req->msg, &p->req->src, 480,
                                                   "No target answered", p->req->to_tag, agent);
        if (r)
            relay(p, r);
        sc_msg_free(r);
    }
    p->answered = true;
    if (p->req)
        sc_req_settle(p->req);
}

static void send_cancel(branch_t *b)
{
    if (b->txn == NULL || b->final || b->cancel_sent)
        return;
    if (b->status < 100) {
        b->cancel_wanted = true;        /* §9.1: not before a provisional */
        return;
    }
    sc_msg_t *c = sc_msg_cancel_for(sc_txn_request(b->txn));
    b->cancel_sent = true;
    if (c)
        sc_txn_client_new(b->p->chain->stack.txns, c, sc_txn_flow(b->txn), NULL, NULL);
}

static void cancel_all(proxy_t *p)
{
    p->stop = true;
    for (branch_t *b = p->branches; b; b = b->next)
        send_cancel(b);
    /* §9.1: a branch that answers no final within 64*T1 of our CANCEL is
     * taken as cancelled (timer C's: 408 upstream, §16.8) */
    if (p->cancel_guard && !evtimer_pending(p->cancel_guard, NULL)) {
        uint64_t ms = 64ull * sc_txn_layer_conf(p->chain->stack.txns)->t1_ms;
        struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
        evtimer_add(p->cancel_guard, &tv);
    }
}

static void on_cancel_guard(evutil_socket_t fd, short what, void *arg)
{
    proxy_t *p = arg;
    (void)fd;
    (void)what;
    for (branch_t *b = p->branches, *n; b; b = n) {
        n = b->next;
        if (b->final || !b->cancel_sent)
            continue;
        sc_log(SC_LOG_INFO, "proxy: %s: no final answer 64*T1 after our CANCEL: given up", b->target);
        branch_final(b, 487, NULL);
        /* its transactions would wait in Proceeding for ever: they end */
        for (int i = 0; i < BRANCH_TXNS; i++)
            if (b->txns[i]) {
                sc_txn_set_tu(b->txns[i], NULL, NULL);
                sc_txn_abandon(b->txns[i]);
                b->txns[i] = NULL;
            }
        b->txn = NULL;
        b->ntxns = 0;
        if (--p->live == 0 && p->answered) {
            proxy_free(p);
            return;
        }
    }
}

void sc_proxy_cancelled(proxy_t *p)
{
    sc_log(SC_LOG_INFO, "proxied %.*s cancelled upstream", SC_STR_FMT(sc_txn_request(p->stxn)->call_id));
    cancel_all(p);
}

/* §16.5: the Contacts of a 3xx added as targets (those not tried yet).
 * Returns how many. */
static int recurse(proxy_t *p, const sc_msg_t *resp)
{
    int added = 0;
    if (++p->redirects > 8)
        return 0;               /* a redirect loop: the 3xx is the answer */
    for (const sc_addr_t *a = resp->contact; a && p->ntargets < MAX_TARGETS; a = a->next) {
        if (a->uri.scheme != SC_URI_SIP && a->uri.scheme != SC_URI_SIPS)
            continue;
        bool seen = false;
        for (int i = 0; i < p->ntargets && !seen; i++)
            seen = strlen(p->targets[i]) == a->uri.raw.len &&
                   memcmp(p->targets[i], a->uri.raw.s, a->uri.raw.len) == 0;
        if (!seen && (p->targets[p->ntargets] = strndup(a->uri.raw.s, a->uri.raw.len)) != NULL) {
            p->ntargets++;
            added++;
        }
    }
    return added;
}

/* The phrase of a final answer we make ourselves for a branch (no
 * response came): the cause the branch recorded (a DNS failure, say), else
 * the standard phrase of the status.  One place, so that the module's
 * per-attempt report and the answer relayed upstream say the same. */
static const char *own_reason(const branch_t *b, unsigned status)
{
    if (b->reason)
        return b->reason;
    switch (status) {
    case 408: return "Request Timeout";
    case 482: return LOOP_REASON;
    case 487: return "Request Terminated";
    default:  return "Service Unavailable";
    }
}

/* A branch has its final answer: the module hears of it (per-attempt
 * results) before anything is relayed; not once the request has its
 * final answer (branches cancelled after a 2xx): the module may have let
 * go of attempt_arg when it saw that answer. */
static void branch_ended(branch_t *b, unsigned status, const sc_msg_t *resp)
{
    proxy_t *p = b->p;
    b->final = true;
    b->status = status;
    if (p->on_attempt && !p->answered) {
        sc_response_t r = { .msg = resp, .status = status,
                            .reason = resp ? NULL : own_reason(b, status) };
        p->on_attempt(b->target, &r, p->attempt_arg);
    }
}

static void branch_final(branch_t *b, unsigned status, const sc_msg_t *resp)
{
    proxy_t *p = b->p;
    branch_ended(b, status, resp);
    if (status >= 300 && status < 400 && p->follow_redirects && resp && !p->stop &&
        recurse(p, resp) > 0) {
        sc_log(SC_LOG_INFO, "proxy: %u redirects to %d more target(s)", status,
               p->ntargets - p->next_target);
        if (p->parallel)
            start_next(p);      /* the new targets ring beside the others */
        else
            maybe_finish(p);
        return;
    }
    if (status >= 200 && status < 300) {
        sc_msg_t *r = relayable(resp);
        if (r)
            relay(p, r);                /* every 2xx goes up (§16.7 step 5) */
        sc_msg_free(r);
        cancel_all(p);
        if (p->req)
            sc_req_settle(p->req);
        /* nothing here reads either request again: further 2xx are relayed
         * as they come, ACK and BYE go statelessly along the route */
        if (b->txn)
            sc_txn_forget_request(b->txn);
        if (p->req == NULL)
            sc_txn_forget_request(p->stxn);
        return;
    }
    if (status >= 600)
        cancel_all(p);
    if (status == 487 && p->timer_c_fired) {
        status = 408;           /* §16.8: we cancelled it for want of an answer */
        resp = NULL;
    }
    if (!p->answered) {
        sc_msg_t *r = resp ? relayable(resp) : NULL;
        if (r == NULL && p->req && p->by_q && status != 487) {
            status = 480;       /* a registered contact that did not answer */
            r = sc_respond_build(p->req->msg, &p->req->src, status,
                                 "Temporarily Unavailable (no contact answered)", p->req->to_tag,
                                 p->chain->stack.agent);
        } else if (r == NULL && p->req) {   /* a timeout or transport error (§16.7 step 4) */
            r = sc_respond_build(p->req->msg, &p->req->src, status,
                                 own_reason(b, status), p->req->to_tag, p->chain->stack.agent);
        }
        if (r && (status == 401 || status == 407) && p->best &&
            (p->best->status == 401 || p->best->status == 407))
            merge_challenges(p->best, r);
        if (r && better(status, p->best ? p->best->status : 0)) {
            if ((status == 401 || status == 407) && p->best)
                merge_challenges(r, p->best);
            sc_msg_free(p->best);
            p->best = r;
        } else {
            sc_msg_free(r);
        }
    }
    maybe_finish(p);
}

static bool branch_send_next(branch_t *b);
static int  branch_send(branch_t *b, sc_tp_kind_t kind, const struct sockaddr *to, socklen_t len);

static void on_branch(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg)
{
    branch_t *b = arg;
    proxy_t *p = b->p;
    if (ev != SC_TXN_EV_TERMINATED && t != b->txn)
        return;                     /* an address given up on (§4.3) */
    if ((ev == SC_TXN_EV_TIMEOUT || ev == SC_TXN_EV_TRANSPORT_ERROR) && !b->final &&
        b->status < 100 && !p->stop && b->addr_at < b->naddrs && branch_send_next(b))
        return;
    if (ev == SC_TXN_EV_TRANSPORT_ERROR && b->by_size && !b->final && b->status < 100 && !p->stop) {
        /* TCP refused or reset where UDP was asked for: the peer may
         * well take UDP only (a phone); the same address again over UDP */
        sc_log(SC_LOG_INFO, "proxy: %s: TCP failed for a large request: again over UDP", b->target);
        b->udp_only = true;
        if (branch_send(b, SC_TP_UDP, (const struct sockaddr *)&b->to, b->tolen) == 0)
            return;
    }
    switch (ev) {
    case SC_TXN_EV_RESPONSE:
        if (msg->status < 200) {
            if (b->status < msg->status)
                b->status = msg->status;
            if (b->cancel_wanted)
                send_cancel(b);
            /* §16.7 step 2: a provisional restarts timer C */
            if (!p->stop && !p->answered && evtimer_pending(p->timer_c, NULL)) {
                struct timeval tv = { .tv_sec = p->final_timeout_s };
                evtimer_add(p->timer_c, &tv);
            }
            if (msg->status > 100 && !p->answered) {
                sc_msg_t *r = relayable(msg);
                if (r)
                    relay(p, r);
                sc_msg_free(r);
            }
        } else if (!b->final || (msg->status < 300 && msg->status >= 200)) {
            if (b->final) {                     /* another 2xx (fork behind it) */
                sc_msg_t *r = relayable(msg);
                if (r)
                    relay(p, r);
                sc_msg_free(r);
            } else {
                branch_final(b, msg->status, msg);
            }
        }
        break;
    case SC_TXN_EV_TIMEOUT:
        if (!b->final)
            branch_final(b, 408, NULL);
        break;
    case SC_TXN_EV_TRANSPORT_ERROR:
        if (!b->final)
            branch_final(b, 503, NULL);
        break;
    case SC_TXN_EV_TERMINATED:
        for (int i = 0; i < BRANCH_TXNS; i++)
            if (b->txns[i] == t)
                b->txns[i] = NULL;
        if (t == b->txn)
            b->txn = NULL;
        if (--b->ntxns > 0 || b->resolving)
            break;
        if (--p->live == 0 && p->answered)
            proxy_free(p);
        break;
    default:
        break;
    }
}

/* --- requests downstream ------------------------------------------------- */

/* §16.6 step 4: our Record-Route, naming the listener the next hop
 * reaches us on.  When the request leaves by another transport or
 * address family (or listener) than it came in on, we record-route
 * twice (RFC 5658 §4): the outer entry for the side downstream, the
 * inner one for the side it came from, so that each end sends its
 * in-dialog requests to an address and transport it can reach (a TLS
 * caller is never handed transport=tcp, an IPv4 one never an IPv6
 * address).  Both come back as Routes and are consumed together
 * (route_in.c). */
static void record_route(const sc_source_t *in, const sc_tp_route_t *out, char *rr, size_t cap)
{
    char from[SC_HOSTPORT_LEN];
    sc_source_sentby(in, from, sizeof(from));
    int n = snprintf(rr, cap, "<sip:%s;transport=%s;lr>", out->sentby, sc_tp_name(out->kind));
    if ((in->kind != out->kind || strcmp(from, out->sentby) != 0) && n > 0 && (size_t)n < cap)
        snprintf(rr + n, cap - (size_t)n, ", <sip:%s;transport=%s;lr>", from, sc_tp_name(in->kind));
}

/* §16.6: the request for one target. */
static sc_msg_t *forwarded(proxy_t *p, const char *target, const char *path,
                           const sc_tp_route_t *route, const char *branch)
{
    const sc_msg_t *o = sc_txn_request(p->stxn);
    sc_msg_t *m = sc_msg_new_request(o->method, o->method_str, sc_str_cstr(target));
    if (m == NULL)
        return NULL;
    char via[256], rr[512];
    snprintf(via, sizeof(via), "SIP/2.0/%s %s;branch=%s;rport", sc_tp_via_name(route->kind),
             route->sentby, branch);
    record_route(sc_txn_flow(p->stxn), route, rr, sizeof(rr));
    int rc = sc_msg_add_header(m, SC_STR_LIT("Via"), sc_str_cstr(via), NULL) != 0 ||
             copy_onward(m, o, p->record_route ? rr : NULL) != 0;
    for (char **h = p->drop; rc == 0 && h && *h; h++)
        sc_msg_remove_header(m, sc_str_cstr(*h));      /* every one of that name */
    if (rc == 0 && p->add)
        rc = sc_msg_add_lines(m, (const char *const *)p->add);
    /* a Path is the route to the contact (RFC 3327 §5.3); an initial
     * request has no Route left once ours is taken off, so it goes last */
    if (rc == 0 && path)
        rc = sc_msg_add_header(m, SC_STR_LIT("Route"), sc_str_cstr(path), NULL);
    if (rc != 0) {
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

/* Our branch: the magic cookie, "sc", a hash of what identifies the
 * request for loop detection (§16.6 step 8, §16.3 step 4), then random. */
static uint32_t loop_hash(const sc_msg_t *o)
{
    uint32_t h = 2166136261u;
    sc_str_t parts[] = { o->ruri_str, o->call_id, o->from ? o->from->tag : SC_STR_NULL,
                         o->to ? o->to->tag : SC_STR_NULL };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (size_t j = 0; j < parts[i].len; j++)
            h = (h ^ (unsigned char)parts[i].s[j]) * 16777619u;
    return (h ^ o->cseq.num) * 16777619u;
}

/* Sends the branch's request to one address: a new client transaction
 * (with a branch id of its own). */
static int branch_send(branch_t *b, sc_tp_kind_t kind, const struct sockaddr *to, socklen_t len)
{
    proxy_t *p = b->p;
    const sc_msg_t *o = sc_txn_request(p->stxn);
    char err[200];
    sc_tp_route_t route;
    if (sc_tp_addr_is_local(p->chain->stack.tps, to)) {
        /* a next hop that is us: the request would come straight back */
        sc_log(SC_LOG_WARN, "proxy: %s: the next hop is this server: not sent", b->target);
        p->looped = true;
        return -1;
    }
    if (sc_tp_route_host(p->chain->stack.tps, kind, to, len, b->udp_only ? 0 : o->len + 300,
                         b->host, &route, err, sizeof(err)) != 0) {
        sc_log(SC_LOG_WARN, "proxy: %s: %s", b->target, err);
        return -1;
    }
    char branch[40], rnd[9];
    sc_gen_tag(rnd, 8);
    snprintf(branch, sizeof(branch), "%ssc%08x%s", SC_BRANCH_COOKIE, loop_hash(o), rnd);
    /* every transaction of the branch is in txns (so it can be detached):
     * with no slot free, nothing more is sent */
    int slot = 0;
    while (slot < BRANCH_TXNS && b->txns[slot])
        slot++;
    if (slot == BRANCH_TXNS)
        return -1;
    sc_msg_t *m = forwarded(p, b->target, b->path, &route, branch);
    sc_txn_t *t = m ? sc_txn_client_new(p->chain->stack.txns, m, &route.flow, on_branch, b) : NULL;
    if (t == NULL)
        return -1;
    b->txn = b->txns[slot] = t;
    b->ntxns++;
    memcpy(&b->to, to, len);
    b->tolen = len;
    b->by_size = route.by_size;
    return 0;
}

static bool branch_send_next(branch_t *b)
{
    while (b->addr_at < b->naddrs) {
        const sc_target_t *a = &b->addrs[b->addr_at++];
        if (branch_send(b, a->kind, (const struct sockaddr *)&a->addr, a->len) == 0)
            return true;
    }
    return false;
}

/* A branch to a host name: its addresses are in; a branch that can go
 * nowhere ends 503 (a timeout-like failure, §16.7 step 4), or 408 when
 * the name servers did not answer, its reason phrase naming the cause:
 * "Service Unavailable (DNS: no such domain example.invalid)". */
static void on_branch_resolved(const sc_target_t *t, int n, const char *why, void *arg)
{
    branch_t *b = arg;
    proxy_t *p = b->p;
    b->resolving = NULL;
    if (n > 0 && (b->addrs = malloc(sizeof(*t) * (size_t)n)) != NULL) {
        memcpy(b->addrs, t, sizeof(*t) * (size_t)n);
        b->naddrs = n;
    }
    if (!p->stop && branch_send_next(b))
        return;
    sc_log(SC_LOG_INFO, "proxy: %s: %s", b->target, p->stop ? "no longer wanted" : n ? "no address reachable" : why);
    unsigned status = p->stop ? 487 : p->looped ? 482 : n ? 503 : sc_resolve_fail_status(why);
    if (!b->final && (status == 503 || status == 408)) {
        char reason[400];
        snprintf(reason, sizeof(reason), "%s (%s)",
                 status == 408 ? "Request Timeout" : "Service Unavailable",
                 n ? "no address reachable" : why);
        free(b->reason);
        b->reason = strdup(reason);
    }
    if (!b->final)
        branch_final(b, status, NULL);
    if (b->ntxns == 0 && --p->live == 0 && p->answered)
        proxy_free(p);
}

/* "udp:IP:PORT" (where a contact registered from) as an address. */
static int received_addr(const char *r, struct sockaddr_storage *to, socklen_t *len, sc_tp_kind_t *kind)
{
    const char *colon = strchr(r, ':');
    if (colon == NULL)
        return -1;
    size_t tl = (size_t)(colon - r);
    *kind = tl == 3 && strncmp(r, "tcp", 3) == 0 ? SC_TP_TCP
          : tl == 3 && strncmp(r, "tls", 3) == 0 ? SC_TP_TLS
                                                 : SC_TP_UDP;
    int l = sizeof(*to);
    if (evutil_parse_sockaddr_port(colon + 1, (struct sockaddr *)to, &l) != 0)
        return -1;
    *len = (socklen_t)l;
    return 0;
}

/* A branch for target i: its next hop is a Route left after ours (loose
 * routing), else the first hop of its Path (or a next hop's Route), else
 * a next hop without lr, else where it registered from, else its URI
 * (numeric, or resolved per RFC 3263). */
static int start_branch(proxy_t *p, int i)
{
    const char *target = p->targets[i];
    const sc_msg_t *o = sc_txn_request(p->stxn);
    sc_uri_t uri;
    struct sockaddr_storage to;
    socklen_t len;
    sc_tp_kind_t kind;
    const sc_addr_t *rt = o->route;     /* ours went as it arrived (route_in.c) */
    const char *bad = NULL, *lt, *gt;
    bool flow = false;
    if (rt) {
        uri = rt->uri;
    } else if (p->path[i] && (lt = strchr(p->path[i], '<')) && (gt = strchr(lt, '>'))) {
        bad = sc_uri_parse(&uri, sc_str(lt + 1, (size_t)(gt - lt - 1)));
    } else if (p->hop[i]) {
        bad = sc_uri_parse(&uri, sc_str_cstr(p->hop[i]));
    } else {
        bad = sc_uri_parse(&uri, sc_str_cstr(target));
        flow = p->received[i] && received_addr(p->received[i], &to, &len, &kind) == 0;
        /* a TCP or TLS flow that is gone cannot be opened again towards
         * the phone's source port: its Contact is where it listens */
        if (flow && kind != SC_TP_UDP && !sc_tp_has_conn(p->chain->stack.tps, kind, (struct sockaddr *)&to))
            flow = false;
    }
    if (!bad && !flow && (rt ? sc_tp_route_is_local(p->chain->stack.tps, &uri)
                             : sc_tp_uri_is_local(p->chain->stack.tps, &uri))) {
        /* the next hop names us (an address or an alias): it would come
         * straight back */
        sc_log(SC_LOG_WARN, "proxy: %s: the next hop is this server: not sent", target);
        p->looped = true;
        return -1;
    }
    bool numeric = flow || (!bad && sc_uri_target(&uri, &to, &len, &kind) == 0);
    if (bad || (!numeric && ((uri.scheme != SC_URI_SIP && uri.scheme != SC_URI_SIPS) ||
                             p->chain->stack.resolver == NULL))) {
        sc_log(SC_LOG_WARN, "proxy: cannot send to %s: %s", target, bad ? bad : "not a sip: URI");
        return -1;
    }
    branch_t *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->target = strdup(target)) == NULL ||
        (!flow && (b->host = strndup(uri.host.s, uri.host.len)) == NULL)) {
        if (b)
            free(b->target);
        free(b);
        return -1;
    }
    b->p = p;
    b->path = p->path[i];
    b->udp_only = flow && kind == SC_TP_UDP;     /* the flow it registered over (RFC 5626) */
    if (numeric ? branch_send(b, kind, (struct sockaddr *)&to, len) != 0
                : (b->resolving = sc_resolve(p->chain->stack.resolver, &uri, false,
                                             on_branch_resolved, b)) == NULL) {
        free(b->target);
        free(b->host);
        free(b);
        return -1;
    }
    b->next = p->branches;
    p->branches = b;
    p->live++;
    return 0;
}

static void on_prov_timeout(evutil_socket_t fd, short what, void *arg)
{
    proxy_t *p = arg;
    (void)fd;
    (void)what;
    branch_t *b = p->branches;          /* sequential: the newest is the one ringing */
    if (b && !b->final && b->status < 100) {
        sc_log(SC_LOG_INFO, "proxy: no provisional within %u s: next target", p->prov_timeout_s);
        branch_ended(b, 408, NULL);     /* its late answers are ignored */
        maybe_finish(p);
    }
}

/* Starts the next target(s): every one left when forking in parallel,
 * else the next that can be sent to. */
static void start_next(proxy_t *p)
{
    int group = p->next_target < p->ntargets ? p->q[p->next_target] : 0;
    bool started = false;
    while (p->next_target < p->ntargets) {
        if (p->by_q && started && p->q[p->next_target] != group)
            return;                     /* the next q when all of this one failed */
        int i = p->next_target++;
        int ok = start_branch(p, i) == 0;
        if (!ok && p->on_attempt && !p->answered)
            p->on_attempt(p->targets[i], &(sc_response_t){ .status = 503, .reason = "Service Unavailable (cannot send)" },
                          p->attempt_arg);
        started |= ok;
        if (ok && !p->parallel && !p->by_q) {
            if (p->prov_timeout_s) {
                struct timeval tv = { .tv_sec = p->prov_timeout_s };
                evtimer_add(p->prov_timer, &tv);
            }
            return;
        }
    }
    maybe_finish(p);
}

static void on_timer_c(evutil_socket_t fd, short what, void *arg)
{
    proxy_t *p = arg;
    (void)fd;
    (void)what;
    sc_log(SC_LOG_INFO, "proxy: final timeout: cancelling what still rings");
    p->timer_c_fired = true;
    cancel_all(p);
}

static char **copy_lines(const char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    char **c = n ? calloc(n + 1, sizeof(*c)) : NULL;
    for (size_t i = 0; c && i < n; i++)
        c[i] = strdup(l[i]);
    return c;
}

int sc_proxy_request(sc_req_t *req, const sc_proxy_opts_t *o)
{
    sc_chain_t *c = req->chain;
    const sc_msg_t *m = req->msg;
    if (req->done || req->proxy || c->stack.txns == NULL || m->method == SC_METHOD_ACK ||
        m->method == SC_METHOD_CANCEL)
        return -1;
    /* §16.3 step 4: a Via of ours with this request's loop hash is a loop */
    char mark[24];
    snprintf(mark, sizeof(mark), "%ssc%08x", SC_BRANCH_COOKIE, loop_hash(m));
    size_t ml = strlen(mark);
    for (const sc_via_t *v = m->via; v; v = v->next)
        if (v->branch.len > ml && memcmp(v->branch.s, mark, ml) == 0 &&
            sc_tp_is_local(c->stack.tps, v->host, v->port)) {
            sc_res_send(&req->res, 482, NULL);
            return 0;
        }
    proxy_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    /* a BYE through us ends a call we record-routed: its CDR stops here */
    if (m->method == SC_METHOD_BYE)
        sc_cdr_emit(c, "cdr:stop", "network", NULL, "normal-release", 0, m, NULL);
    p->chain = c;
    p->req = req;
    p->stxn = req->txn;
    sc_txn_ref(p->stxn);
    p->parallel = o->parallel;
    p->record_route = o->record_route;
    p->follow_redirects = o->follow_redirects;
    p->prov_timeout_s = o->provisional_timeout_s;
    p->on_attempt = o->on_attempt;
    p->attempt_arg = o->attempt_arg;
    p->add = copy_lines(o->headers);
    p->drop = copy_lines(o->remove_headers);
    if (o->next_hops) {                 /* R-URI as it is (or targets[i]), sent to the hop */
        for (int i = 0; o->next_hops[i] && p->ntargets < MAX_TARGETS; i++) {
            int k = p->ntargets++;
            const char *h = o->next_hops[i];
            sc_uri_t u;
            bool lr = sc_uri_parse(&u, sc_str_cstr(h)) == NULL && u.lr &&
                      (u.scheme == SC_URI_SIP || u.scheme == SC_URI_SIPS);
            p->targets[k] = o->targets && o->targets[i] ? strdup(o->targets[i])
                                                        : strndup(m->ruri_str.s, m->ruri_str.len);
            if (lr) {
                size_t len = strlen(h) + 3;
                if ((p->path[k] = malloc(len)) != NULL)
                    snprintf(p->path[k], len, "<%s>", h);
            } else {
                p->hop[k] = strdup(h);
            }
        }
    } else if (o->ncontacts > 0) {      /* best q first, stable (the service's order within a q) */
        p->by_q = true;
        for (int q = 1000; q >= 0; q--)
            for (int i = 0; i < o->ncontacts && p->ntargets < MAX_TARGETS; i++) {
                const sc_location_t *l = &o->contacts[i];
                if ((l->q < 0 ? 1000 : l->q > 1000 ? 1000 : l->q) != q)
                    continue;
                int k = p->ntargets++;
                p->targets[k] = strdup(l->uri);
                p->path[k] = l->path ? strdup(l->path) : NULL;
                p->received[k] = l->received ? strdup(l->received) : NULL;
                p->q[k] = q;
            }
    } else if (o->targets)
        for (int i = 0; o->targets[i] && p->ntargets < MAX_TARGETS; i++)
            p->targets[p->ntargets++] = strdup(o->targets[i]);
    else
        p->targets[p->ntargets++] = strndup(m->ruri_str.s, m->ruri_str.len);
    p->timer_c = evtimer_new(c->base, on_timer_c, p);
    p->prov_timer = evtimer_new(c->base, on_prov_timeout, p);
    if (m->method == SC_METHOD_INVITE)
        p->cancel_guard = evtimer_new(c->base, on_cancel_guard, p);
    sc_list_push(&c->proxies, &p->link);
    req->proxy = p;
    p->final_timeout_s = o->final_timeout_s ? o->final_timeout_s : 180;
    if (m->method == SC_METHOD_INVITE) {
        struct timeval tv = { .tv_sec = p->final_timeout_s };
        evtimer_add(p->timer_c, &tv);
    }
    start_next(p);
    if (p->live == 0) {                 /* no target could be sent to */
        req->proxy = NULL;
        p->req = NULL;
        bool answered = p->answered;
        proxy_free(p);
        return answered ? 0 : -1;
    }
    return 0;
}

bool sc_req_next_hop_is_us(const sc_req_t *req)
{
    const sc_addr_t *rt = req->msg->route;
    return rt ? sc_tp_route_is_local(req->chain->stack.tps, &rt->uri)
              : sc_tp_uri_is_local(req->chain->stack.tps, &req->msg->ruri);
}

/* --- ACK for 2xx: relayed statelessly (§16.11) ---------------------------- */

int sc_proxy_relay_ack(const sc_stack_t *stack, const sc_msg_t *ack)
{
    const sc_addr_t *rt = ack->route;
    sc_uri_t uri = rt ? rt->uri : ack->ruri;
    if (rt == NULL && sc_tp_uri_is_local(stack->tps, &ack->ruri))
        return 0;                       /* for us: the dialog's business */
    struct sockaddr_storage to;
    socklen_t len;
    sc_tp_kind_t kind;
    sc_tp_route_t route;
    char err[200], via[256];
    if (ack->max_forwards == 0 || sc_uri_target(&uri, &to, &len, &kind) != 0 ||
        sc_tp_route(stack->tps, kind, (struct sockaddr *)&to, len, ack->len + 200, &route, err,
                    sizeof(err)) != 0)
        return -1;
    sc_msg_t *m = sc_msg_new_request(SC_METHOD_ACK, SC_STR_NULL, ack->ruri_str);
    if (m == NULL)
        return -1;
    /* a stateless branch: the same for every retransmission of this ACK */
    snprintf(via, sizeof(via), "SIP/2.0/%s %s;branch=%ssa%08x;rport", sc_tp_via_name(route.kind),
             route.sentby, SC_BRANCH_COOKIE, loop_hash(ack));
    int rc = sc_msg_add_header(m, SC_STR_LIT("Via"), sc_str_cstr(via), NULL);
    if (rc == 0)
        rc = copy_onward(m, ack, NULL);
    sc_str_t out = rc == 0 ? sc_msg_serialize(m) : SC_STR_NULL;
    rc = out.s ? sc_flow_send(&route.flow, out.s, out.len) : -1;
    if (rc == 0)
        sc_sipm_message(SC_SIPM_TX, m);
    sc_msg_free(m);
    return rc;
}
