/*
 * uac.c — calls a module places (drachtio-srf's createUAC): the INVITE
 * built and sent as a client transaction, progress reported, a 401/407
 * answered once with the credentials given, CANCEL (§9.1: only once a
 * provisional came back), and on the first 2xx a UAC dialog (§12.1.2)
 * with its ACK (§13.2.2.4).  A 2xx from another fork (another To tag)
 * is ACKed and ended with a BYE: a call has one dialog.  With
 * follow_redirects a 3xx's Contacts (best q first) become the next
 * Request-URIs, tried in turn (§8.1.3.4): same Call-ID, From and To, the
 * next CSeq.  Timer C (as a proxy's, §16.6 step 11): no final answer
 * within final_timeout of the last provisional, the call is CANCELled and
 * reported as 408; before any provisional, timer B ends it (408).
 *
 * Ownership: the call lives until its callback has run and every
 * INVITE transaction it started has terminated (the last one stays in
 * Accepted for 64*T1 to hand us retransmitted 2xx, which the dialog
 * ACKs again).  The chain counts it as work in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chain_impl.h"
#include "digest.h"
#include "sc_log.h"

#define UAC_TXNS 16

struct sc_uac {
    sc_chain_t    *chain;
    sc_instance_t *inst;
    sc_txn_t      *txn;         /* the current INVITE's; NULL once terminated */
    sc_txn_t      *txns[UAC_TXNS];  /* every INVITE transaction still running (each
                                       target's, retries with credentials, redirects) */
    unsigned       ntxns;
    sc_uac_cb      cb;
    void          *arg;
    void         (*on_request)(sc_str_t sent, void *arg);
    void         (*on_provisional)(const sc_response_t *r, void *arg);
    char          *user, *password;
    char          *offer;
    bool           authed;      /* credentials sent once */
    bool           ringing;     /* a provisional came: a CANCEL may go */
    bool           cancel_wanted, cancel_sent;
    bool           done;        /* the callback ran */
    struct event  *timer_c;     /* runs once something rings */
    unsigned       final_timeout_s;
    bool           timer_c_fired;   /* what it cancelled reports 408 */
    bool           report_on_drop;  /* a B2BUA's: dropped unanswered, it hears 487 */
    struct event  *cancel_guard;    /* §9.1: 64*T1 after our CANCEL, no more waiting */
    sc_dialog_t   *dialog;      /* early (a reliable 1xx's), then the first 2xx's */
    char          *remote_tag;  /* its To tag */
    bool           confirmed;   /* a 2xx made it the call's */
    bool           subscribe;   /* a SUBSCRIBE: no ACK, no CDR */
    bool           own_ack;     /* the module ACKs the 2xx (sc_dialog_ack) */
    sc_link_t      link;        /* on the chain's list */
    /* a host name (RFC 3263): built again for each target in turn */
    sc_out_t       out;
    sc_resolve_t  *resolving;
    sc_target_t    targets[SC_MAX_TARGETS];
    int            ntargets, at;
    bool           responded;   /* the current target answered: no failover */
    bool           by_size;     /* the current went over TCP for its size only */
    bool           attempted;   /* cdr:attempt went out */
    char          *leg_of;      /* a B2BUA's B leg: A's Call-ID (its CDR's correlation) */
    /* §8.1.3.4: every Request-URI tried or to try (the first is the
     * module's); those past next came from 3xx Contacts */
    bool           follow_redirects, own_contact;
    char          *uris[SC_MAX_TARGETS];
    int            qs[SC_MAX_TARGETS];
    int            nuris, next_uri, redirects;
};

static void uac_free(sc_uac_t *u)
{
    sc_chain_t *c = u->chain;
    sc_list_remove(&c->calls, &u->link);
    if (u->timer_c)
        event_free(u->timer_c);
    if (u->cancel_guard)
        event_free(u->cancel_guard);
    if (u->dialog)
        sc_dialog_release(u->dialog);
    if (u->resolving)
        sc_resolve_cancel(u->resolving);
    sc_out_copy_free(&u->out);
    for (int i = 0; i < u->nuris; i++)
        free(u->uris[i]);
    free(u->user);
    free(u->password);
    free(u->offer);
    free(u->remote_tag);
    free(u->leg_of);
    free(u);
}

static void finish(sc_uac_t *u, sc_dialog_t *d, const sc_response_t *r)
{
    if (u->done)
        return;
    u->done = true;
    if (u->timer_c)
        evtimer_del(u->timer_c);
    if (u->cancel_guard)
        evtimer_del(u->cancel_guard);
    if (u->cb)
        u->cb(d, r, u->arg);
}

static void send_cancel(sc_uac_t *u)
{
    if (u->cancel_sent || u->txn == NULL)
        return;
    u->cancel_sent = true;
    sc_msg_t *c = sc_msg_cancel_for(sc_txn_request(u->txn));
    if (c == NULL || sc_txn_client_new(u->chain->stack.txns, c, sc_txn_flow(u->txn), NULL, NULL) == NULL)
        sc_log(SC_LOG_WARN, "uac: the CANCEL could not be sent");
    if (u->cancel_guard) {
        uint64_t ms = 64ull * sc_txn_layer_conf(u->chain->stack.txns)->t1_ms;
        struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
        evtimer_add(u->cancel_guard, &tv);
    }
}

/* §9.1: no final answer 64*T1 after our CANCEL: the call is over (what
 * timer C cancelled reports 408). */
static void on_cancel_guard(evutil_socket_t fd, short what, void *arg)
{
    sc_uac_t *u = arg;
    (void)fd;
    (void)what;
    if (u->done)
        return;
    sc_log(SC_LOG_INFO, "uac: %s: no final answer 64*T1 after our CANCEL: given up", u->out.uri);
    if (u->dialog && !u->confirmed)
        sc_dialog_drop(u->dialog);
    unsigned st = u->timer_c_fired ? 408 : 487;
    if (u->attempted)
        sc_cdr_emit(u->chain, "cdr:stop", "application", NULL, "call-canceled", st,
                    u->txn ? sc_txn_request(u->txn) : NULL, NULL);
    finish(u, NULL, &(sc_response_t){ .status = st, .reason = st == 408 ? "Request Timeout" : "Request Terminated" });
    /* its INVITE transactions would wait in Proceeding for ever: they end */
    for (int i = 0; i < UAC_TXNS; i++)
        if (u->txns[i]) {
            sc_txn_set_tu(u->txns[i], NULL, NULL);
            sc_txn_abandon(u->txns[i]);
        }
    uac_free(u);
}

void sc_uac_cancel(sc_uac_t *u)
{
    if (u == NULL || u->done || u->cancel_wanted)
        return;
    u->cancel_wanted = true;
    if (u->ringing)
        send_cancel(u);
}

static void on_invite(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg);

static void on_timer_c(evutil_socket_t fd, short what, void *arg)
{
    sc_uac_t *u = arg;
    (void)fd;
    (void)what;
    if (u->done || u->cancel_wanted)
        return;
    sc_log(SC_LOG_INFO, "uac: %s: no final answer within %u s of the last provisional: CANCEL",
           u->out.uri, u->final_timeout_s);
    u->timer_c_fired = true;
    sc_uac_cancel(u);
}

void sc_chain_cancel_calls(sc_chain_t *c)
{
    for (sc_uac_t *u = sc_list_first(&c->calls, sc_uac_t, link), *n; u; u = n) {
        n = sc_list_next(u, sc_uac_t, link);
        if (u->done || u->subscribe || u->cancel_wanted)
            continue;
        sc_log(SC_LOG_INFO, "stop: cancelling the call to %s", u->out.uri);
        sc_uac_cancel(u);
    }
}

/* Sends m as the call's current INVITE.  Every transaction the call runs
 * is in txns (so a stop can detach them all): with no slot free nothing
 * is sent, and the current transaction stays what it was. */
static int start(sc_uac_t *u, sc_msg_t *m, const sc_source_t *flow)
{
    int slot = 0;
    while (slot < UAC_TXNS && u->txns[slot])
        slot++;
    sc_txn_t *t = slot < UAC_TXNS ? sc_txn_client_new(u->chain->stack.txns, m, flow, on_invite, u) : NULL;
    if (t == NULL) {
        if (slot == UAC_TXNS) {
            sc_log(SC_LOG_WARN, "uac: %d INVITEs of one call still running: no more", UAC_TXNS);
            sc_msg_free(m);
        }
        return -1;
    }
    u->txn = u->txns[slot] = t;
    u->ntxns++;
    u->responded = false;
    if (u->on_request) {
        sc_str_t sent = sc_msg_serialize(sc_txn_request(u->txn));
        u->on_request(sent, u->arg);
    }
    return 0;
}

/* The INVITE again with credentials for the challenge in resp: same
 * Call-ID, From tag and To, the next CSeq, a new branch (§22.2). */
static int retry_with_credentials(sc_uac_t *u, const sc_msg_t *resp)
{
    const sc_msg_t *o = sc_txn_request(u->txn);
    sc_digest_t ch;
    sc_digest_alg_t alg;
    bool sess;
    char cred[1024], cseq[32], err[200];
    if (sc_digest_pick(resp, &ch, &alg, &sess) != 0 ||
        sc_digest_answer(&ch, alg, sess, o->method_str, o->ruri_str, u->user, u->password, 1, cred,
                         sizeof(cred)) == 0)
        return -1;
    sc_msg_t *m = sc_msg_new_request(o->method, o->method_str, o->ruri_str);
    if (m == NULL)
        return -1;
    snprintf(cseq, sizeof(cseq), "%u %.*s", o->cseq.num + 1, SC_STR_FMT(o->method_str));
    int rc = 0;
    for (const sc_hdr_t *h = o->hdr_first; h && rc == 0; h = h->next) {
        if (h->id == SC_HDR_VIA || h->id == SC_HDR_CONTENT_LENGTH)
            continue;
        rc = sc_msg_add_header(m, h->name, h->id == SC_HDR_CSEQ ? sc_str_cstr(cseq) : h->value, NULL);
    }
    sc_str_t name = resp->status == 407 ? SC_STR_LIT("Proxy-Authorization") : SC_STR_LIT("Authorization");
    if (rc == 0)
        rc = sc_msg_add_header(m, name, sc_str_cstr(cred), NULL);
    if (rc == 0)
        rc = sc_msg_set_body(m, SC_STR_NULL, o->body);
    /* the same hop (flow and Via sent-by) as the request it retries:
     * its target may have come from DNS */
    const sc_via_t *v = o->via;
    char branch[32], via[300];
    sc_gen_branch(branch, 24);
    snprintf(via, sizeof(via), "SIP/2.0/%.*s %s%.*s%s:%u;branch=%s;rport", SC_STR_FMT(v->transport),
             v->host_ipv6 ? "[" : "", SC_STR_FMT(v->host), v->host_ipv6 ? "]" : "", v->port, branch);
    if (rc == 0)
        rc = sc_msg_add_header_first(m, SC_STR_LIT("Via"), sc_str_cstr(via), NULL);
    if (rc != 0) {
        sc_msg_free(m);
        return -1;
    }
    (void)err;
    u->authed = true;
    u->ringing = false;
    sc_source_t flow = *sc_txn_flow(u->txn);
    return start(u, m, &flow);
}

/* §13.2.2.4: a 2xx with another To tag than the call's: a second dialog
 * we do not want; ACK it and end it. */
static void end_fork(sc_uac_t *u, const sc_msg_t *resp)
{
    sc_dlg_t *dl = sc_dlg_new_uac(sc_txn_request(u->txn), resp);
    if (dl == NULL)
        return;
    sc_dialog_t *d = sc_dialog_new(u->chain, u->inst, dl);
    if (d == NULL)
        return;
    if (u->out.udp_only)
        sc_dialog_udp_only(d);
    sc_dialog_send_ack(d, resp->cseq.num);
    sc_log(SC_LOG_INFO, "uac: a second 2xx (fork %s): ACK and BYE", dl->remote_tag);
    sc_dialog_destroy(d, NULL, NULL, NULL);
}

/* The dialog for the To tag of resp: the early one a reliable 1xx
 * made, or a new one.  NULL for another fork's tag, without To tag, or
 * for a 2xx without Contact (sc_dlg_new_uac). */
static sc_dialog_t *dialog_for(sc_uac_t *u, const sc_msg_t *resp)
{
    if (u->remote_tag)
        return resp->to && sc_str_eq_c(resp->to->tag, u->remote_tag) ? u->dialog : NULL;
    sc_dlg_t *dl = sc_dlg_new_uac(sc_txn_request(u->txn), resp);
    sc_dialog_t *d = dl ? sc_dialog_new(u->chain, u->inst, dl) : NULL;
    if (d == NULL)
        return NULL;
    u->dialog = d;
    if (u->out.udp_only)        /* the INVITE went over UDP once TCP was refused */
        sc_dialog_udp_only(d);
    sc_dialog_hold(d);          /* for the ACKs of retransmitted 2xx */
    u->remote_tag = strdup(dl->remote_tag);
    sc_dialog_set_sdp(d, sc_str_cstr(u->offer ? u->offer : ""), SC_STR_NULL);
    return d;
}

/* RFC 3262 §4: a reliable provisional is PRACKed in its early dialog. */
static void on_reliable(sc_uac_t *u, const sc_msg_t *msg)
{
    if (u->remote_tag && (msg->to == NULL || !sc_str_eq_c(msg->to->tag, u->remote_tag))) {
        sc_log(SC_LOG_INFO, "uac: a reliable %u from a second fork: not acknowledged", msg->status);
        return;
    }
    sc_dialog_t *d = dialog_for(u, msg);
    if (d == NULL) {
        sc_log(SC_LOG_WARN, "uac: a reliable %u without To tag: no PRACK", msg->status);
        return;
    }
    sc_dialog_early(d, true);
    sc_dialog_prack(d, msg);
}

static void on_2xx(sc_uac_t *u, const sc_msg_t *msg)
{
    if (u->confirmed) {
        if (msg->to && sc_str_eq_c(msg->to->tag, u->remote_tag))
            sc_dialog_send_ack(u->dialog, msg->cseq.num);   /* retransmitted 2xx */
        else
            end_fork(u, msg);
        return;
    }
    sc_dialog_t *d = dialog_for(u, msg);
    if (d == NULL && u->remote_tag) {   /* early with another fork: that one dies */
        sc_dialog_drop(u->dialog);
        sc_dialog_release(u->dialog);
        u->dialog = NULL;
        free(u->remote_tag);
        u->remote_tag = NULL;
        d = dialog_for(u, msg);
    }
    if (d == NULL) {
        sc_log(SC_LOG_WARN, "uac: a 2xx without To tag or Contact: no dialog");
        finish(u, NULL, &(sc_response_t){ .msg = msg, .status = msg->status });
        return;
    }
    u->confirmed = true;
    if (u->subscribe) {
        const sc_msg_t *req = sc_txn_request(u->txn);
        sc_hdr_t *ev = req->hdr[SC_HDR_EVENT];
        sc_dialog_subscription(d, ev ? ev->value : SC_STR_LIT("presence"), 0);
        finish(u, d, &(sc_response_t){ .msg = msg, .status = msg->status });
        return;
    }
    sc_dialog_early(d, false);
    sc_dialog_confirm(d, msg);
    if (u->own_ack)
        sc_dialog_owe_ack(d, msg->cseq.num);
    else
        sc_dialog_send_ack(d, msg->cseq.num);
    sc_dialog_session_from(d, msg);
    sc_cdr_emit(u->chain, "cdr:start", "network", "uac", NULL, msg->status, msg, NULL);
    finish(u, d, &(sc_response_t){ .msg = msg, .status = msg->status });
}

/* The call's cdr:attempt, with its first INVITE (a B2BUA's B leg: tied
 * to its A leg first). */
static void cdr_attempt(sc_uac_t *u, const sc_msg_t *m)
{
    u->attempted = true;
    if (u->leg_of)
        sc_cdr_leg(m->call_id, sc_str_cstr(u->leg_of));
    sc_cdr_emit(u->chain, "cdr:attempt", "application", "uac", NULL, 0, m, NULL);
}

static bool send_next(sc_uac_t *u);
static bool add_redirects(sc_uac_t *u, const sc_msg_t *resp);
static bool retarget(sc_uac_t *u);

static bool again_over_udp(sc_uac_t *u, sc_txn_t *t)
{
    char err[256];
    sc_tp_route_t route;
    const sc_target_t *target = u->ntargets ? &u->targets[u->at - 1] : NULL;
    sc_msg_t *m = sc_out_again_over_udp(&u->chain->stack, &u->out, target, sc_txn_request(t), &route,
                                        err, sizeof(err));
    if (m == NULL || start(u, m, &route.flow) != 0) {
        sc_log(SC_LOG_INFO, "uac: %s: not again over UDP: %s", u->out.uri, m ? "cannot send" : err);
        return false;
    }
    sc_log(SC_LOG_INFO, "uac: %s: TCP failed for a large INVITE: again over UDP", u->out.uri);
    u->by_size = false;
    return true;
}

static void on_invite(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg)
{
    sc_uac_t *u = arg;
    bool current = t == u->txn;
    switch (ev) {
    case SC_TXN_EV_RESPONSE:
        if (!current)
            break;
        u->responded = true;
        if (msg->status < 200) {
            u->ringing = true;
            if (u->timer_c && !u->done && !u->cancel_wanted && !u->subscribe) {
                struct timeval tv = { .tv_sec = u->final_timeout_s };
                evtimer_add(u->timer_c, &tv);       /* (re)started by each provisional */
            }
            if (msg->status > 100 && sc_token_list_has(msg->require, "100rel") &&
                msg->hdr[SC_HDR_RSEQ])
                on_reliable(u, msg);
            if (u->cancel_wanted)
                send_cancel(u);
            if (u->on_provisional && !u->done)
                u->on_provisional(&(sc_response_t){ .msg = msg, .status = msg->status }, u->arg);
        } else if (msg->status < 300) {
            on_2xx(u, msg);
        } else if ((msg->status == 401 || msg->status == 407) && u->user && !u->authed &&
                   !u->cancel_wanted && retry_with_credentials(u, msg) == 0) {
            break;
        } else if (msg->status < 400 && u->follow_redirects && !u->cancel_wanted &&
                   add_redirects(u, msg) && retarget(u)) {
            break;
        } else if (u->next_uri < u->nuris && !u->cancel_wanted && retarget(u)) {
            break;              /* the next of the Contacts a 3xx gave */
        } else if (!u->done && u->subscribe) {
            finish(u, NULL, &(sc_response_t){ .msg = msg, .status = msg->status });
        } else if (!u->done) {
            if (u->dialog && !u->confirmed)
                sc_dialog_drop(u->dialog);  /* the early dialog ends with the call */
            sc_cdr_emit(u->chain, "cdr:stop", "network", "uac",
                        msg->status == 487 ? "call-canceled" : "call-rejected", msg->status, msg, NULL);
            if (msg->status == 487 && u->timer_c_fired)     /* we cancelled it for want of an answer */
                finish(u, NULL, &(sc_response_t){ .status = 408, .reason = "Request Timeout" });
            else
                finish(u, NULL, &(sc_response_t){ .msg = msg, .status = msg->status });
        }
        break;
    case SC_TXN_EV_TIMEOUT:
    case SC_TXN_EV_TRANSPORT_ERROR:
        /* §18.1.1: TCP, taken for the size alone, refused or reset: the
         * peer may take UDP only (a phone); the same INVITE over UDP */
        if (ev == SC_TXN_EV_TRANSPORT_ERROR && current && !u->done && !u->responded &&
            !u->cancel_wanted && u->by_size && !u->out.udp_only && !u->authed && again_over_udp(u, t))
            break;
        /* RFC 3263 §4.3: a target that fails before answering: the next */
        if (current && !u->done && !u->responded && !u->cancel_wanted &&
            ((u->at < u->ntargets && send_next(u)) || (u->next_uri < u->nuris && retarget(u))))
            break;
        if (current && !u->done) {
            bool timeout = ev == SC_TXN_EV_TIMEOUT;
            if (!u->subscribe)
                sc_cdr_emit(u->chain, "cdr:stop", "application", "uac", "call-rejected",
                        timeout ? 408 : 503, sc_txn_request(t), NULL);
            finish(u, NULL, &(sc_response_t){ .status = timeout ? 408 : 503,
                                              .reason = timeout ? "Request Timeout"
                                                                : "Service Unavailable (transport error)" });
        }
        break;
    case SC_TXN_EV_TERMINATED:
        if (current)
            u->txn = NULL;
        for (int i = 0; i < UAC_TXNS; i++)
            if (u->txns[i] == t)
                u->txns[i] = NULL;
        if (--u->ntxns == 0) {
            if (!u->done)       /* ended without a final answer to report */
                finish(u, NULL, &(sc_response_t){ .status = 408, .reason = "Request Timeout" });
            uac_free(u);
        }
        break;
    default:
        break;
    }
}

/* Builds for the next resolved target and sends; false when none is
 * left that can be sent to. */
static bool send_next(sc_uac_t *u)
{
    char err[256];
    while (u->at < u->ntargets) {
        sc_tp_route_t route;
        sc_msg_t *m = sc_out_build_for(&u->chain->stack, &u->out, &u->targets[u->at++], &route, err,
                                       sizeof(err));
        if (m && !u->attempted && !u->subscribe)
            cdr_attempt(u, m);
        if (m && start(u, m, &route.flow) == 0) {
            u->by_size = route.by_size;
            return true;
        }
        sc_log(SC_LOG_INFO, "uac: %s: target %d of %d: %s", u->out.uri, u->at, u->ntargets,
               m ? "cannot send" : err);
    }
    return false;
}

/* A call that ends without ever having had a transaction to wait for
 * goes now; otherwise the last transaction's end frees it. */
static void fail(sc_uac_t *u, unsigned status, const char *reason)
{
    if (!u->subscribe && u->attempted)
        sc_cdr_emit(u->chain, "cdr:stop", "application", "uac",
                    status == 487 ? "call-canceled" : "call-rejected", status,
                    u->txn ? sc_txn_request(u->txn) : NULL, NULL);
    finish(u, NULL, &(sc_response_t){ .status = status, .reason = reason });
    if (u->ntxns == 0)
        uac_free(u);
}

static void on_resolved(const sc_target_t *t, int n, const char *why, void *arg)
{
    sc_uac_t *u = arg;
    u->resolving = NULL;
    memcpy(u->targets, t, sizeof(*t) * (size_t)n);
    u->ntargets = n;
    if (!u->cancel_wanted && send_next(u))
        return;
    if (!u->cancel_wanted && u->next_uri < u->nuris && retarget(u))
        return;
    char reason[400];
    unsigned status = u->cancel_wanted ? 487 : n ? 503 : sc_resolve_fail_status(why);
    if (u->cancel_wanted)
        snprintf(reason, sizeof(reason), "Request Terminated");
    else
        snprintf(reason, sizeof(reason), "%s (%s)",
                 status == 408 ? "Request Timeout" : "Service Unavailable",
                 n ? "no target reachable" : why);
    fail(u, status, reason);
}

/* Sends u->out: to its next hop when that is numeric, else once DNS has
 * given the targets (RFC 3263).  False when nothing could be sent. */
static bool dispatch(sc_uac_t *u)
{
    char err[256];
    sc_uri_t hop;
    u->ntargets = u->at = 0;
    if (sc_out_needs_dns(&u->out, &hop)) {
        if (u->chain->stack.resolver)
            u->resolving = sc_resolve(u->chain->stack.resolver, &hop, false, on_resolved, u);
        if (u->resolving)
            return true;
        sc_instance_log(u->inst, SC_LOG_LEVEL_ERROR, "sc_uac_create: %s %s: no resolver", u->out.method,
                        u->out.uri);
        return false;
    }
    sc_tp_route_t route;
    sc_msg_t *m = sc_out_build(&u->chain->stack, &u->out, &route, err, sizeof(err));
    if (m && !u->attempted && !u->subscribe)
        cdr_attempt(u, m);
    if (m && start(u, m, &route.flow) == 0) {
        u->by_size = route.by_size;
        return true;
    }
    sc_instance_log(u->inst, SC_LOG_LEVEL_ERROR, "sc_uac_create: %s %s: %s", u->out.method, u->out.uri,
                    m ? "cannot send" : err);
    sc_instance_set_error(u->inst, m ? "cannot send" : err);
    return false;
}

/* §8.1.3.4: the SIP URIs among resp's Contacts not tried yet join the
 * list, highest q first.  True when some did. */
static bool add_redirects(sc_uac_t *u, const sc_msg_t *resp)
{
    if (++u->redirects > 8)
        return false;                   /* a redirect loop: the 3xx is the answer */
    int before = u->nuris;
    for (const sc_addr_t *a = resp->contact; a && u->nuris < SC_MAX_TARGETS; a = a->next) {
        if (a->uri.scheme != SC_URI_SIP && a->uri.scheme != SC_URI_SIPS)
            continue;
        bool seen = false;
        for (int i = 0; i < u->nuris && !seen; i++)
            seen = strlen(u->uris[i]) == a->uri.raw.len &&
                   memcmp(u->uris[i], a->uri.raw.s, a->uri.raw.len) == 0;
        if (seen || (u->uris[u->nuris] = strndup(a->uri.raw.s, a->uri.raw.len)) == NULL)
            continue;
        /* stable insertion by q among this response's (absent q is 1.0) */
        int q = a->q < 0 ? 1000 : a->q, at = u->nuris++;
        u->qs[at] = q;
        for (; at > before && u->qs[at - 1] < q; at--) {
            char *t = u->uris[at];
            u->uris[at] = u->uris[at - 1];
            u->uris[at - 1] = t;
            u->qs[at] = u->qs[at - 1];
            u->qs[at - 1] = q;
        }
    }
    return u->nuris > before;
}

/* The request again to the next URI on the list: the headers of the last
 * one sent (Call-ID, From, To and the module's own), the next CSeq, and
 * what depends on the hop (Via, Route, Contact, credentials) anew. */
static bool retarget(sc_uac_t *u)
{
    const sc_msg_t *o = u->txn ? sc_txn_request(u->txn) : NULL;
    if (o == NULL)
        return false;
    size_t n = 0;
    for (const sc_hdr_t *h = o->hdr_first; h; h = h->next)
        n++;
    char **lines = calloc(n + 2, sizeof(*lines));
    if (lines == NULL)
        return false;
    n = 0;
    for (const sc_hdr_t *h = o->hdr_first; h; h = h->next) {
        if (h->id == SC_HDR_VIA || h->id == SC_HDR_CONTENT_LENGTH || h->id == SC_HDR_CONTENT_TYPE ||
            h->id == SC_HDR_MAX_FORWARDS || h->id == SC_HDR_CSEQ || h->id == SC_HDR_AUTHORIZATION ||
            h->id == SC_HDR_PROXY_AUTHORIZATION || (h->id == SC_HDR_ROUTE && u->out.proxy) ||
            (h->id == SC_HDR_CONTACT && !u->own_contact))
            continue;
        if (asprintf(&lines[n], "%.*s: %.*s", SC_STR_FMT(h->name), SC_STR_FMT(h->value)) < 0)
            break;
        n++;
    }
    if (asprintf(&lines[n], "CSeq: %u %.*s", o->cseq.num + 1, SC_STR_FMT(o->method_str)) >= 0)
        n++;
    sc_out_t next = u->out, copy;
    next.uri = u->uris[u->next_uri++];
    next.headers = (const char *const *)lines;
    int rc = sc_out_copy(&copy, &next);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    if (rc != 0)
        return false;
    sc_log(SC_LOG_INFO, "uac: %s %s: now to %s", copy.method, u->out.uri, copy.uri);
    sc_out_copy_free(&u->out);
    u->out = copy;
    u->authed = false;
    u->ringing = false;
    return dispatch(u);
}

static sc_uac_t *uac_create(sc_instance_t *inst, const sc_uac_opts_t *o, sc_uac_cb cb, void *arg,
                            sc_str_t leg_of)
{
    sc_chain_t *c = inst->chain;
    if (c->stack.txns == NULL || o == NULL || o->uri == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_uac_create: no URI");
        return NULL;
    }
    const char *method = o->method ? o->method : "INVITE";
    bool invite = strcmp(method, "INVITE") == 0;
    if (!invite && strcmp(method, "SUBSCRIBE") != 0) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_uac_create: %s makes no dialog (INVITE or SUBSCRIBE)",
                        method);
        return NULL;
    }
    /* RFC 4028: we offer a session timer unless the module set one */
    const char *lines[64];
    char se[64];
    int n = 0;
    bool has_se = false, has_contact = false;
    for (const char *const *h = o->headers; h && *h && n < 60; h++) {
        has_se |= strncasecmp(*h, "Session-Expires:", 16) == 0 || strncasecmp(*h, "x:", 2) == 0;
        has_contact |= strncasecmp(*h, "Contact:", 8) == 0 || strncasecmp(*h, "m:", 2) == 0;
        lines[n++] = *h;
    }
    if (invite && !has_se && c->session_expires_s) {
        snprintf(se, sizeof(se), "Session-Expires: %u", c->session_expires_s);
        lines[n++] = se;
    }
    if (invite)
        lines[n++] = "Supported: 100rel, timer";   /* RFC 3262, RFC 4028 */
    lines[n] = NULL;
    sc_out_t out = { .method = method, .uri = o->uri, .headers = lines,
                     .content_type = o->content_type ? o->content_type : "application/sdp",
                     .body = sc_str_cstr(o->local_sdp), .proxy = o->proxy };
    if (o->local_sdp == NULL)
        out.body = SC_STR_NULL;
    sc_uac_t *u = calloc(1, sizeof(*u));
    if (u == NULL || sc_out_copy(&u->out, &out) != 0) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_uac_create: %s %s: out of memory", method, o->uri);
        free(u);
        return NULL;
    }
    *u = (sc_uac_t){ .chain = c, .inst = inst, .cb = cb, .arg = arg, .out = u->out,
                     .on_request = o->on_request, .on_provisional = o->on_provisional,
                     .subscribe = !invite, .follow_redirects = o->follow_redirects,
                     .own_ack = o->own_ack,
                     .final_timeout_s = o->final_timeout_s ? o->final_timeout_s : 180,
                     .own_contact = has_contact, .nuris = 1, .next_uri = 1 };
    if (invite) {
        u->timer_c = evtimer_new(c->base, on_timer_c, u);
        u->cancel_guard = evtimer_new(c->base, on_cancel_guard, u);
    }
    sc_list_push(&c->calls, &u->link);
    if ((u->uris[0] = strdup(o->uri)) == NULL ||
        (o->auth_username && (u->user = strdup(o->auth_username)) == NULL) ||
        (u->user && (u->password = strdup(o->auth_password ? o->auth_password : "")) == NULL) ||
        (o->local_sdp && (u->offer = strdup(o->local_sdp)) == NULL) ||
        (leg_of.len && (u->leg_of = strndup(leg_of.s, leg_of.len)) == NULL) || !dispatch(u)) {
        if (u->ntxns == 0)
            uac_free(u);
        return NULL;
    }
    return u;
}

void sc_uac_report_on_drop(sc_uac_t *u)
{
    u->report_on_drop = true;
}

sc_uac_t *sc_uac_create(sc_instance_t *inst, const sc_uac_opts_t *o, sc_uac_cb cb, void *arg)
{
    return uac_create(inst, o, cb, arg, SC_STR_NULL);
}

sc_uac_t *sc_uac_create_leg(sc_instance_t *inst, const sc_uac_opts_t *o, sc_uac_cb cb, void *arg,
                            sc_str_t a_call_id)
{
    sc_cdr_leg(SC_STR_NULL, a_call_id);
    return uac_create(inst, o, cb, arg, a_call_id);
}

void sc_chain_drop_calls(sc_chain_t *c)
{
    sc_uac_t *u;
    while ((u = sc_list_first(&c->calls, sc_uac_t, link)) != NULL) {
        for (int i = 0; i < UAC_TXNS; i++)
            if (u->txns[i])
                sc_txn_set_tu(u->txns[i], NULL, NULL);
        /* a B2BUA's call (its module still loaded) lets go of its state */
        if (u->report_on_drop)
            finish(u, NULL, &(sc_response_t){ .status = 487, .reason = "Request Terminated" });
        uac_free(u);
    }
}
