/*
 * dialog.c — the framework's dialogs (drachtio-srf's Dialog) on top of
 * the §12 state in core/sip/dialog.c: the UAS core's 2xx retransmission
 * until the ACK (§13.3.1.4) and the BYE when none comes, the UAC core's
 * ACK for every 2xx (§13.2.2.4), requests received in a dialog handed to
 * the module's handlers or answered by default, re-INVITE glare (§14),
 * and the requests a module sends in it.
 *
 * Ownership: a dialog is counted on its chain (so a reload keeps the
 * module's code loaded) until freed.  It holds one reference for being
 * live (in the table: requests and events reach it) and one per request
 * it has in flight; ending it drops the first, and the struct goes when
 * the last of its requests has its final answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_impl.h"
#include "hop.h"
#include "sc_log.h"
#include "sip_metrics.h"

typedef struct dreq {
    sc_dialog_t    *d;
    sc_txn_t       *txn;
    sc_method_t     method;
    uint32_t        cseq;
    sc_response_cb  cb;
    void           *arg;
    char           *offer;      /* re-INVITE: our new SDP, kept on 2xx */
    size_t          offer_len;
    bool            final;
    bool            by_size;    /* the current went over TCP for its size only */
    sc_link_t       link;       /* on its dialog's list */
} dreq_t;

typedef struct {
    char  *s;
    size_t len;
} blob_t;

struct sc_dialog {
    sc_dlg_t      *dlg;
    sc_chain_t    *chain;
    sc_instance_t *inst;
    unsigned       refs;
    bool           live;
    bool           cdr_open;        /* one cdr:stop owed */
    bool           held;            /* the peer put us on hold */
    bool           udp_only;        /* the peer refused TCP (§18.1.1): UDP whatever the size */
    blob_t         local_sdp, remote_sdp;
    struct {
        sc_dialog_cb cb;
        void        *arg;
    } on[SC_DIALOG__EVENTS];
    /* UAS core: our 2xx to an INVITE, resent until its ACK */
    blob_t         ok;
    sc_source_t    ok_flow;
    uint32_t       ok_cseq;
    uint64_t       ok_every;
    sc_timer_t     ok_timer, ok_giveup;
    /* UAC core: the ACK of the last 2xx, resent when that 2xx is */
    blob_t         ack;
    sc_source_t    ack_flow;
    uint32_t       ack_cseq;
    uint32_t       ack_owed;        /* own_ack: the CSeq of the 2xx the module ACKs */
    /* RFC 4028: the session interval, and who refreshes it */
    unsigned       se;              /* seconds; 0: no session timer */
    bool           we_refresh;
    bool           se_pending;      /* our refresh went, no 2xx to it yet */
    unsigned       se_next;         /* what the 2xx being sent says */
    bool           we_refresh_next;
    sc_timer_t     se_timer;
    /* RFC 6665: a subscription, not a call */
    bool           subscription;
    blob_t         event;           /* the Event it is for */
    /* RFC 3262: the early dialog of reliable provisionals */
    bool           early;
    uint32_t       rseq;            /* last RSeq we sent */
    blob_t         rel;             /* our reliable 1xx, resent until its PRACK */
    bool           rel_sdp;         /* it carried SDP: no 2xx before the PRACK */
    sc_source_t    rel_flow;
    uint64_t       rel_every;
    sc_timer_t     rel_timer, rel_giveup;
    sc_req_t      *rel_req;         /* the INVITE it answers */
    /* §14: one re-INVITE at a time each way */
    bool           reinvite_out;
    sc_req_t      *reinvite_in;
    sc_list_t      reqs;            /* its requests in flight, newest first */
    /* a next hop with a host name (hop.h): what waits for its address */
    sc_hop_t       hop;
    struct parked *parked, **parked_end;
    bool           ack_parked;      /* the ACK of ack_cseq, once routed */
    sc_link_t      link;            /* on the chain's list */
};

/* A request waiting for the dialog's next hop to resolve, in order. */
typedef struct parked {
    sc_msg_t       *m;
    sc_response_cb  cb;
    void           *arg;
    struct parked  *next;
} parked_t;

static int blob_set(blob_t *b, sc_str_t v)
{
    char *s = malloc(v.len + 1);
    if (s == NULL)
        return -1;
    if (v.len)
        memcpy(s, v.s, v.len);
    s[v.len] = '\0';
    free(b->s);
    b->s = s;
    b->len = v.len;
    return 0;
}

static void blob_clear(blob_t *b)
{
    free(b->s);
    b->s = NULL;
    b->len = 0;
}

static sc_str_t blob_str(const blob_t *b) { return sc_str(b->s, b->len); }

static const sc_txn_conf_t *conf_of(const sc_dialog_t *d)
{
    return sc_txn_layer_conf(d->chain->stack.txns);
}

/* --- properties ----------------------------------------------------------- */

const char *sc_dialog_id(const sc_dialog_t *d) { return d->dlg->id; }
bool sc_dialog_is_uac(const sc_dialog_t *d) { return d->dlg->uac; }
sc_str_t sc_dialog_call_id(const sc_dialog_t *d) { return sc_str_cstr(d->dlg->call_id); }
sc_str_t sc_dialog_local_tag(const sc_dialog_t *d) { return sc_str_cstr(d->dlg->local_tag); }
sc_str_t sc_dialog_remote_tag(const sc_dialog_t *d) { return sc_str_cstr(d->dlg->remote_tag); }
sc_str_t sc_dialog_local_uri(const sc_dialog_t *d) { return sc_str_cstr(d->dlg->local_uri); }
sc_str_t sc_dialog_remote_uri(const sc_dialog_t *d) { return sc_str_cstr(d->dlg->remote_uri); }
sc_str_t sc_dialog_local_sdp(const sc_dialog_t *d) { return blob_str(&d->local_sdp); }
sc_str_t sc_dialog_remote_sdp(const sc_dialog_t *d) { return blob_str(&d->remote_sdp); }

void sc_dialog_set_sdp(sc_dialog_t *d, sc_str_t local, sc_str_t remote)
{
    if (local.s)
        blob_set(&d->local_sdp, local);
    if (remote.s)
        blob_set(&d->remote_sdp, remote);
}

void sc_dialog_on(sc_dialog_t *d, sc_dialog_event_t ev, sc_dialog_cb cb, void *arg)
{
    if ((unsigned)ev < SC_DIALOG__EVENTS) {
        d->on[ev].cb = cb;
        d->on[ev].arg = arg;
    }
}

static sc_dialog_t *live_owner(sc_dlg_t *dl)
{
    sc_dialog_t *d = dl ? dl->owner : NULL;
    return d && d->live ? d : NULL;
}

sc_dialog_t *sc_dialog_find(const sc_instance_t *inst, const char *id)
{
    const sc_dlg_table_t *t = inst->chain->stack.dialogs;
    return t && id ? live_owner(sc_dlg_table_find_id(t, sc_str_cstr(id))) : NULL;
}

sc_dialog_t *sc_dialog_find_by_call_id(const sc_instance_t *inst, const char *call_id,
                                       const char *from_tag)
{
    const sc_dlg_table_t *t = inst->chain->stack.dialogs;
    if (t == NULL || call_id == NULL || from_tag == NULL)
        return NULL;
    return live_owner(sc_dlg_table_find_from_tag(t, sc_str_cstr(call_id), sc_str_cstr(from_tag)));
}

unsigned sc_chain_dialogs(const sc_chain_t *c) { return c->dialogs.n; }

/* --- life ----------------------------------------------------------------- */

static void on_ok_timer(void *arg);
static void on_ok_giveup(void *arg);
static void on_session_timer(void *arg);
static void on_rel_timer(void *arg);
static void on_rel_giveup(void *arg);
static void on_hop_ready(void *owner, bool ok);
static void rel_clear(sc_dialog_t *d);
static void rel_sent(sc_dialog_t *d, sc_req_t *req, const sc_msg_t *resp);

sc_dialog_t *sc_dialog_new(sc_chain_t *c, sc_instance_t *inst, sc_dlg_t *dlg)
{
    sc_dialog_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        sc_dlg_free(dlg);
        return NULL;
    }
    d->dlg = dlg;
    dlg->owner = d;
    d->chain = c;
    d->inst = inst;
    d->refs = 1;
    d->live = true;
    d->cdr_open = true;
    sc_clock_t *clock = sc_txn_layer_clock(c->stack.txns);
    sc_timer_init(&d->ok_timer, clock, on_ok_timer, d);
    sc_timer_init(&d->ok_giveup, clock, on_ok_giveup, d);
    sc_timer_init(&d->se_timer, clock, on_session_timer, d);
    sc_timer_init(&d->rel_timer, clock, on_rel_timer, d);
    sc_timer_init(&d->rel_giveup, clock, on_rel_giveup, d);
    d->hop = (sc_hop_t){ .ready = on_hop_ready, .owner = d };
    d->parked_end = &d->parked;
    sc_dlg_table_add(c->stack.dialogs, dlg);
    sc_list_push(&c->dialogs, &d->link);
    return d;
}

static void unref(sc_dialog_t *d)
{
    if (--d->refs)
        return;
    sc_chain_t *c = d->chain;
    sc_list_remove(&c->dialogs, &d->link);
    sc_timer_fini(&d->ok_timer);
    sc_timer_fini(&d->ok_giveup);
    sc_timer_fini(&d->se_timer);
    sc_timer_fini(&d->rel_timer);
    sc_timer_fini(&d->rel_giveup);
    sc_hop_fini(&d->hop);
    sc_source_release(&d->rel_flow);
    blob_clear(&d->rel);
    sc_source_release(&d->ok_flow);
    sc_source_release(&d->ack_flow);
    blob_clear(&d->ok);
    blob_clear(&d->ack);
    blob_clear(&d->local_sdp);
    blob_clear(&d->remote_sdp);
    blob_clear(&d->event);
    sc_dlg_free(d->dlg);
    free(d);
}

void sc_dialog_hold(sc_dialog_t *d) { d->refs++; }
void sc_dialog_release(sc_dialog_t *d) { unref(d); }

/* Out of the table: nothing reaches it any more. */
static void end_silent(sc_dialog_t *d)
{
    if (!d->live)
        return;
    d->live = false;
    sc_dlg_table_remove(d->chain->stack.dialogs, d->dlg);
    sc_timer_disarm(&d->ok_timer);
    sc_timer_disarm(&d->ok_giveup);
    sc_timer_disarm(&d->se_timer);
    sc_timer_disarm(&d->rel_timer);
    sc_timer_disarm(&d->rel_giveup);
    d->reinvite_in = NULL;
    d->rel_req = NULL;
    unref(d);
}

void sc_dialog_subscription(sc_dialog_t *d, sc_str_t event, unsigned expires)
{
    d->subscription = true;
    d->cdr_open = false;            /* not a call */
    blob_set(&d->event, event);
    if (!d->dlg->uac && expires) {  /* the subscriber refreshes, or it ends */
        d->se = expires;
        d->we_refresh = false;
        sc_timer_arm(&d->se_timer, expires * 1000ull);
    }
}

void sc_dialog_early(sc_dialog_t *d, bool early)
{
    d->early = early;
    d->cdr_open = !early;   /* a call's CDR starts when it is answered */
}

void sc_dialog_confirm(sc_dialog_t *d, const sc_msg_t *resp)
{
    sc_dlg_confirm(d->dlg, resp);
    if (resp->body.len)
        blob_set(&d->remote_sdp, resp->body);
}

sc_dlg_t *sc_dialog_dlg(sc_dialog_t *d) { return d->dlg; }

void sc_dialog_drop(sc_dialog_t *d)
{
    d->cdr_open = false;
    end_silent(d);
}

static void cdr_stop(sc_dialog_t *d, const char *source, const char *reason, const sc_msg_t *m)
{
    if (!d->cdr_open)
        return;
    d->cdr_open = false;
    sc_cdr_emit(d->chain, "cdr:stop", source, NULL, reason, 200, m, NULL);
}

/* SC_DIALOG_DESTROY, the last event; d may be freed after it. */
static void emit_destroy(sc_dialog_t *d, sc_req_t *req)
{
    if (d->on[SC_DIALOG_DESTROY].cb)
        d->on[SC_DIALOG_DESTROY].cb(d, SC_DIALOG_DESTROY, req, NULL, d->on[SC_DIALOG_DESTROY].arg);
}

/* --- session timers (RFC 4028) --------------------------------------------- */

enum { REFRESHER_NONE, REFRESHER_UAC, REFRESHER_UAS };

/* Session-Expires: delta-seconds [;refresher=uac|uas].  false when absent
 * or not a number. */
static bool session_expires(const sc_msg_t *m, unsigned *secs, int *refresher)
{
    const sc_hdr_t *h = m->hdr[SC_HDR_SESSION_EXPIRES];
    if (h == NULL || h->value.len == 0 || h->value.s[0] < '0' || h->value.s[0] > '9')
        return false;
    unsigned long v = 0;
    size_t i = 0;
    for (; i < h->value.len && h->value.s[i] >= '0' && h->value.s[i] <= '9' && v < 1000000; i++)
        v = v * 10 + (unsigned long)(h->value.s[i] - '0');
    *secs = (unsigned)v;
    *refresher = REFRESHER_NONE;
    static const char key[] = "refresher=";
    for (; i + sizeof(key) + 2 <= h->value.len + 1; i++)
        if (sc_mem_caseeq(h->value.s + i, key, sizeof(key) - 1)) {
            const char *r = h->value.s + i + sizeof(key) - 1;
            *refresher = sc_mem_caseeq(r, "uac", 3) ? REFRESHER_UAC
                       : sc_mem_caseeq(r, "uas", 3) ? REFRESHER_UAS : REFRESHER_NONE;
            break;
        }
    return true;
}

unsigned sc_session_expires_of(const sc_msg_t *m)
{
    unsigned se;
    int ref;
    return session_expires(m, &se, &ref) ? se : 0;
}

static bool supports_timer(const sc_msg_t *m)
{
    return sc_token_list_has(m->supported, "timer") || sc_token_list_has(m->require, "timer");
}

/* §10: the refresher refreshes at half the interval; the other side
 * gives up at the interval less min(32, interval/3) and sends BYE. */
static void session_arm(sc_dialog_t *d, unsigned se, bool we_refresh)
{
    d->se = se;
    d->we_refresh = we_refresh;
    d->se_pending = false;
    if (se == 0 || !d->live) {
        sc_timer_disarm(&d->se_timer);
        return;
    }
    unsigned margin = se / 3 < 32 ? se / 3 : 32;
    sc_timer_arm(&d->se_timer, we_refresh ? se * 500ull : (se - margin) * 1000ull);
}

void sc_dialog_session_from(sc_dialog_t *d, const sc_msg_t *resp)
{
    unsigned se;
    int ref;
    if (session_expires(resp, &se, &ref))
        session_arm(d, se, ref != REFRESHER_UAS);   /* we sent the request: we are its UAC */
    else
        session_arm(d, 0, false);
}

static int send_invite(sc_dialog_t *d, const char *const *lines, const char *ctype, sc_str_t sdp,
                       sc_response_cb cb, void *arg);

static void on_session_timer(void *arg)
{
    sc_dialog_t *d = arg;
    if (!d->live)
        return;
    if (!d->we_refresh || d->se_pending) {
        sc_log(SC_LOG_INFO, d->se_pending ? "dialog %s: our refresh got no 2xx, the session expires: BYE"
                                          : "dialog %s: session not refreshed in time: BYE", d->dlg->id);
        sc_dialog_end(d, "session-expired");
        return;
    }
    /* the refresh: a re-INVITE with the session as it is */
    if (send_invite(d, NULL, NULL, blob_str(&d->local_sdp), NULL, NULL) != 0) {
        sc_timer_arm(&d->se_timer, 1000);   /* another INVITE in progress: soon again */
        return;
    }
    /* §10: a refresh that fails (a 5xx, a 491 ...; 408 and 481 end the
     * dialog at once) leaves the session to expire: then we end it,
     * when the other side would, rather than keep a call it has ended.
     * Its 2xx re-arms the timer (sc_dialog_session_from). */
    unsigned margin = d->se / 3 < 32 ? d->se / 3 : 32;
    d->se_pending = true;
    sc_timer_arm(&d->se_timer, (d->se - margin) * 1000ull - d->se * 500ull);
}

/* --- requests we send in it ----------------------------------------------- */

static void dreq_free(dreq_t *r)
{
    sc_dialog_t *d = r->d;
    sc_list_remove(&d->reqs, &r->link);
    free(r->offer);
    free(r);
    d->chain->ndreqs--;
    unref(d);
}

/* The size §18.1.1 weighs m at (with the Via to come); 0 (UDP) once the
 * peer refused a TCP connection: a phone with UDP only stays so, and
 * an ACK, sent without a transaction, would not be sent again. */
static size_t send_size(const sc_dialog_t *d, const sc_msg_t *m)
{
    return d->udp_only ? 0 : sc_msg_print(m, NULL, 0) + 160;
}

void sc_dialog_udp_only(sc_dialog_t *d)
{
    d->udp_only = true;
}

/* The ACK of the 2xx to our INVITE with that CSeq: built once, resent
 * for every retransmission of the 2xx (§13.2.2.4). */
static int send_ack(sc_dialog_t *d, uint32_t cseq, const sc_request_opts_t *o)
{
    sc_stack_t *st = &d->chain->stack;
    if (d->ack.s == NULL || d->ack_cseq != cseq) {
        if (d->ack_owed == cseq && o == NULL)
            return 0;                   /* the module's to send */
        char err[200];
        sc_tp_route_t route;
        sc_msg_t *m = sc_dlg_request(d->dlg, SC_METHOD_ACK, SC_STR_NULL, cseq);
        if (m && o && (sc_msg_add_lines(m, o->headers) != 0 ||
                       (o->body.len && sc_msg_set_body(m, sc_str_cstr(o->content_type ? o->content_type
                                                                          : "application/sdp"),
                                                       o->body) != 0))) {
            sc_msg_free(m);
            m = NULL;
        }
        int rc = m ? sc_hop_route(&d->hop, st, m, send_size(d, m), &route, err,
                                  sizeof(err))
                   : -1;
        if (rc == SC_HOP_WAIT) {        /* sent when the hop resolves */
            sc_msg_free(m);
            d->ack_cseq = cseq;
            d->ack_parked = true;
            return 0;
        }
        if (rc == 0)
            rc = sc_push_via(m, &route);
        sc_str_t out = rc == 0 ? sc_msg_serialize(m) : SC_STR_NULL;
        if (out.s == NULL || blob_set(&d->ack, out) != 0) {
            sc_log(SC_LOG_WARN, "dialog %s: cannot send the ACK", d->dlg->id);
            sc_msg_free(m);
            return -1;
        }
        sc_sipm_message(SC_SIPM_TX, m);
        sc_msg_free(m);
        sc_source_release(&d->ack_flow);
        d->ack_flow = route.flow;
        sc_source_hold(&d->ack_flow);
        d->ack_cseq = cseq;
        d->ack_owed = 0;
    } else {
        sc_sipm_retransmission(SC_SIPM_TX);     /* the 2xx came again */
    }
    return sc_txn_layer_send(st->txns, &d->ack_flow, d->ack.s, d->ack.len);
}

int sc_dialog_send_ack(sc_dialog_t *d, uint32_t cseq) { return send_ack(d, cseq, NULL); }

void sc_dialog_owe_ack(sc_dialog_t *d, uint32_t cseq) { d->ack_owed = cseq; }

int sc_dialog_ack(sc_dialog_t *d, const sc_request_opts_t *o, void *arg)
{
    static const sc_request_opts_t none;
    if (d == NULL)
        return -1;
    if (o == NULL)
        o = &none;
    if (d->ack_owed) {
        if (send_ack(d, d->ack_owed, o) != 0)
            return -1;
    } else if (d->ack.s == NULL) {
        return -1;                      /* no 2xx of ours to acknowledge */
    }
    if (o->on_request && d->ack.s)      /* (a parked one is reported as nothing) */
        o->on_request(blob_str(&d->ack), arg);
    return 0;
}

static void deliver(dreq_t *r, const sc_response_t *res)
{
    if (r->final)
        return;
    r->final = res->status >= 200;
    if (r->cb)
        r->cb(res, r->arg);
}

/* §12.2.1.2: a 481 or 408 to a request in the dialog ends it. */
static void maybe_gone(sc_dialog_t *d, const dreq_t *r, unsigned status)
{
    if (!d->live || r->method == SC_METHOD_BYE || (status != 481 && status != 408))
        return;
    sc_log(SC_LOG_INFO, "dialog %s: %u to %s: the dialog is gone", d->dlg->id, status,
           sc_method_name(r->method));
    d->refs++;
    cdr_stop(d, "network", "system-initiated-termination", sc_txn_request(r->txn));
    end_silent(d);
    emit_destroy(d, NULL);
    unref(d);
}

static void on_dreq(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg);

/* §18.1.1: TCP, taken for the size alone, refused or reset: the peer
 * may take UDP only; the same request (our Via aside) over UDP, and the
 * TCP transaction is left to end on its own. */
static bool dreq_again_over_udp(dreq_t *r, sc_txn_t *t)
{
    sc_dialog_t *d = r->d;
    const sc_msg_t *o = sc_txn_request(t);
    char err[200];
    sc_tp_route_t route;
    sc_msg_t *m = sc_msg_new_request(o->method, o->method_str, o->ruri_str);
    int rc = m ? 0 : -1;
    for (const sc_hdr_t *h = o->hdr_first; h && rc == 0; h = h->next)
        if (h->id != SC_HDR_VIA && h->id != SC_HDR_CONTENT_LENGTH)
            rc = sc_msg_add_header(m, h->name, h->value, NULL);
    if (rc == 0)
        rc = sc_msg_set_body(m, SC_STR_NULL, o->body);
    if (rc == 0 && (sc_hop_route(&d->hop, &d->chain->stack, m, 0, &route, err, sizeof(err)) != SC_HOP_ROUTED ||
                    route.kind != SC_TP_UDP || sc_push_via(m, &route) != 0))
        rc = -1;
    sc_txn_t *nt = rc == 0 ? sc_txn_client_new(d->chain->stack.txns, m, &route.flow, on_dreq, r) : NULL;
    if (rc != 0)
        sc_msg_free(m);
    if (nt == NULL)
        return false;
    sc_log(SC_LOG_INFO, "dialog %s: TCP failed for a large %.*s: again over UDP", d->dlg->id,
           SC_STR_FMT(o->method_str));
    sc_txn_set_tu(t, NULL, NULL);
    r->txn = nt;
    r->by_size = false;
    d->udp_only = true;
    return true;
}

static void on_dreq(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg)
{
    dreq_t *r = arg;
    sc_dialog_t *d = r->d;
    if (ev == SC_TXN_EV_TERMINATED) {
        dreq_free(r);
        return;
    }
    if (ev == SC_TXN_EV_TRANSPORT_ERROR && r->by_size && dreq_again_over_udp(r, t))
        return;
    switch (ev) {
    case SC_TXN_EV_RESPONSE:
        if (r->method == SC_METHOD_INVITE && msg->status >= 200) {
            d->reinvite_out = false;
            if (msg->status < 300) {
                send_ack(d, r->cseq, NULL); /* again for each retransmission */
                if (r->final)
                    return;
                sc_dlg_refresh_target(d->dlg, msg);
                sc_dialog_session_from(d, msg);
                if (r->offer)
                    blob_set(&d->local_sdp, sc_str(r->offer, r->offer_len));
                if (msg->body.len)
                    blob_set(&d->remote_sdp, msg->body);
            }
        }
        /* RFC 4028 §7.4: an UPDATE is a session refresh as well (ours
         * carry the interval): its 2xx sets the timer anew */
        if (r->method == SC_METHOD_UPDATE && msg->status >= 200 && msg->status < 300 && !r->final)
            sc_dialog_session_from(d, msg);
        deliver(r, &(sc_response_t){ .msg = msg, .status = msg->status });
        if (msg->status >= 200)
            maybe_gone(d, r, msg->status);
        break;
    case SC_TXN_EV_TIMEOUT:
    case SC_TXN_EV_TRANSPORT_ERROR: {
        bool timeout = ev == SC_TXN_EV_TIMEOUT;
        if (r->method == SC_METHOD_INVITE)
            d->reinvite_out = false;
        deliver(r, &(sc_response_t){ .status = timeout ? 408 : 503,
                                     .reason = timeout ? "Request Timeout"
                                                       : "Service Unavailable (transport error)" });
        maybe_gone(d, r, 408);
        break;
    }
    default:
        break;
    }
}

/* m waits for the next hop's address; the dialog and the chain count it
 * as work in flight. */
static int park(sc_dialog_t *d, sc_msg_t *m, sc_response_cb cb, void *arg)
{
    parked_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        sc_msg_free(m);
        return -1;
    }
    *p = (parked_t){ .m = m, .cb = cb, .arg = arg };
    *d->parked_end = p;
    d->parked_end = &p->next;
    d->refs++;
    d->chain->ndreqs++;
    return 0;
}

/* The hop resolved (or led nowhere): what waited goes, in order, or is
 * answered 503 for its sender. */
static void on_hop_ready(void *owner, bool ok)
{
    sc_dialog_t *d = owner;
    d->refs++;
    if (d->ack_parked) {
        d->ack_parked = false;
        if (ok)
            send_ack(d, d->ack_cseq, NULL);
    }
    parked_t *p = d->parked;
    d->parked = NULL;
    d->parked_end = &d->parked;
    while (p) {
        parked_t *next = p->next;
        d->chain->ndreqs--;
        if (ok) {
            sc_dialog_send(d, p->m, p->cb, p->arg);
        } else {
            char reason[400];
            unsigned status = d->hop.why[0] ? sc_resolve_fail_status(d->hop.why) : 503;
            snprintf(reason, sizeof(reason), "%s (%s)",
                     status == 408 ? "Request Timeout" : "Service Unavailable",
                     d->hop.why[0] ? d->hop.why : "no address");
            sc_msg_free(p->m);
            if (p->cb)
                p->cb(&(sc_response_t){ .status = status, .reason = reason }, p->arg);
        }
        free(p);
        unref(d);
        p = next;
    }
    unref(d);
}

int sc_dialog_send(sc_dialog_t *d, sc_msg_t *m, sc_response_cb cb, void *arg)
{
    sc_stack_t *st = &d->chain->stack;
    char err[200];
    sc_tp_route_t route;
    if (d->parked)                      /* behind the others: CSeq order */
        return park(d, m, cb, arg);
    int hop = sc_hop_route(&d->hop, st, m, send_size(d, m), &route, err, sizeof(err));
    if (hop == SC_HOP_WAIT)
        return park(d, m, cb, arg);
    dreq_t *r = calloc(1, sizeof(*r));
    if (r == NULL || hop != SC_HOP_ROUTED || sc_push_via(m, &route) != 0) {
        sc_log(SC_LOG_WARN, "dialog %s: cannot send %.*s: %s", d->dlg->id,
               SC_STR_FMT(m->method_str), r ? err : "out of memory");
        free(r);
        sc_msg_free(m);
        return -1;
    }
    *r = (dreq_t){ .d = d, .method = m->method, .cseq = m->cseq.num, .cb = cb, .arg = arg,
                   .by_size = route.by_size };
    sc_list_push(&d->reqs, &r->link);
    d->refs++;
    d->chain->ndreqs++;
    r->txn = sc_txn_client_new(st->txns, m, &route.flow, on_dreq, r);
    if (r->txn == NULL) {
        sc_log(SC_LOG_WARN, "dialog %s: cannot send the request", d->dlg->id);
        dreq_free(r);
        return -1;
    }
    return 0;
}

static sc_msg_t *in_dialog(sc_dialog_t *d, sc_method_t method, sc_str_t name,
                           const char *const *lines, const char *ctype, sc_str_t body);

int sc_dialog_prack(sc_dialog_t *d, const sc_msg_t *prov)
{
    const sc_hdr_t *rs = prov->hdr[SC_HDR_RSEQ];
    char rack[64];
    snprintf(rack, sizeof(rack), "RAck: %.*s %u INVITE", SC_STR_FMT(rs->value), prov->cseq.num);
    const char *lines[] = { rack, NULL };
    if (prov->body.len)
        blob_set(&d->remote_sdp, prov->body);
    sc_msg_t *m = in_dialog(d, SC_METHOD_PRACK, SC_STR_NULL, lines, NULL, SC_STR_NULL);
    return m ? sc_dialog_send(d, m, NULL, NULL) : -1;
}

/* The last request sent (newest first on the list). */
static dreq_t *last_sent(sc_dialog_t *d) { return sc_list_first(&d->reqs, dreq_t, link); }

/* A request in the dialog with our Contact where it refreshes the
 * target, the lines and the body given.  NULL when it cannot be built. */
static sc_msg_t *in_dialog(sc_dialog_t *d, sc_method_t method, sc_str_t name,
                           const char *const *lines, const char *ctype, sc_str_t body)
{
    sc_msg_t *m = sc_dlg_request(d->dlg, method, name, 0);
    if (m == NULL)
        return NULL;
    char contact[300];
    int rc = sc_msg_add_lines(m, lines);
    const char *agent = d->chain->stack.agent;
    if (rc == 0 && agent && m->hdr[SC_HDR_USER_AGENT] == NULL)
        rc = sc_msg_add_header(m, SC_STR_LIT("User-Agent"), sc_str_cstr(agent), NULL);
    bool refreshes = method == SC_METHOD_INVITE || method == SC_METHOD_UPDATE ||
                     method == SC_METHOD_SUBSCRIBE || method == SC_METHOD_NOTIFY ||
                     method == SC_METHOD_REFER;
    if (rc == 0 && refreshes && m->contact == NULL && d->dlg->local_target[0]) {
        snprintf(contact, sizeof(contact), "<%s>", d->dlg->local_target);
        rc = sc_msg_add_header(m, SC_STR_LIT("Contact"), sc_str_cstr(contact), NULL);
    }
    if (rc == 0 && refreshes)
        rc = sc_msg_contact_name_addr(m);   /* the module's, in name-addr form */
    if (rc == 0 && d->se && (method == SC_METHOD_INVITE || method == SC_METHOD_UPDATE) &&
        m->hdr[SC_HDR_SESSION_EXPIRES] == NULL) {
        char se[48];
        snprintf(se, sizeof(se), "%u;refresher=%s", d->se, d->we_refresh ? "uac" : "uas");
        rc = sc_msg_add_header(m, SC_STR_LIT("Session-Expires"), sc_str_cstr(se), NULL);
        if (rc == 0 && !supports_timer(m))
            rc = sc_msg_add_header(m, SC_STR_LIT("Supported"), SC_STR_LIT("timer"), NULL);
    }
    if (rc == 0 && body.len)
        rc = sc_msg_set_body(m, sc_str_cstr(ctype ? ctype : "application/sdp"), body);
    if (rc != 0) {
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

/* What ends the dialog: BYE; for a subscription, NOTIFY terminated (we
 * notify) or SUBSCRIBE with Expires: 0 (we subscribed). */
static sc_msg_t *ending(sc_dialog_t *d, const char *const *headers, const char *why)
{
    if (!d->subscription)
        return in_dialog(d, SC_METHOD_BYE, SC_STR_NULL, headers, NULL, SC_STR_NULL);
    sc_method_t method = d->dlg->uac ? SC_METHOD_SUBSCRIBE : SC_METHOD_NOTIFY;
    sc_msg_t *m = in_dialog(d, method, SC_STR_NULL, headers, NULL, SC_STR_NULL);
    char state[64];
    snprintf(state, sizeof(state), "terminated;reason=%s", why);
    if (m && (sc_msg_add_header(m, SC_STR_LIT("Event"), blob_str(&d->event), NULL) != 0 ||
              sc_msg_add_header(m, method == SC_METHOD_NOTIFY ? SC_STR_LIT("Subscription-State")
                                                              : SC_STR_LIT("Expires"),
                                method == SC_METHOD_NOTIFY ? sc_str_cstr(state) : SC_STR_LIT("0"),
                                NULL) != 0)) {
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

int sc_dialog_destroy(sc_dialog_t *d, const char *const *headers, sc_response_cb cb, void *arg)
{
    if (d == NULL || !d->live)
        return -1;
    sc_msg_t *m = ending(d, headers, "noresource");
    /* a module ending the other leg of a call the core is ending at stop
     * (a B2BUA's destroy handler): the call ends for the same reason */
    if (m)
        cdr_stop(d, "application", d->chain->ending ? "system-initiated-termination" : "normal-release", m);
    int rc = m ? sc_dialog_send(d, m, cb, arg) : -1;
    end_silent(d);
    return rc;
}

void sc_dialog_end(sc_dialog_t *d, const char *reason)
{
    if (!d->live)
        return;
    d->refs++;
    sc_msg_t *m = ending(d, NULL, d->subscription && d->se ? "timeout" : "noresource");
    if (m) {
        if (!d->subscription)
            sc_msg_add_header(m, SC_STR_LIT("Reason"),
                              SC_STR_LIT("SIP;cause=200;text=\"ended by sipchain\""), NULL);
        cdr_stop(d, "application", reason, m);
        sc_dialog_send(d, m, NULL, NULL);
    }
    end_silent(d);
    emit_destroy(d, NULL);
    unref(d);
}

/* "hold" / "unhold" as RFC 3264 §8.4 puts it: the direction attribute
 * of our SDP becomes sendonly, or sendrecv again. */
static char *directed_sdp(const blob_t *sdp, bool hold)
{
    static const char *const dirs[] = { "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive" };
    const char *want = hold ? "a=sendonly" : "a=sendrecv";
    size_t n = sdp->len + 16;
    char *out = malloc(n), *w = out;
    if (out == NULL)
        return NULL;
    bool found = false;
    const char *p = sdp->s ? sdp->s : "", *end = p + sdp->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol ? (size_t)(eol - p + 1) : (size_t)(end - p);
        bool is_dir = false;
        for (size_t i = 0; i < 4; i++)
            if (len >= 10 && memcmp(p, dirs[i], 10) == 0)
                is_dir = true;
        if (is_dir) {
            found = true;
            memcpy(w, want, 10);
            w += 10;
            memcpy(w, p + 10, len - 10);    /* the line end as written */
            w += len - 10;
        } else {
            memcpy(w, p, len);
            w += len;
        }
        p += len;
    }
    if (!found)
        w += sprintf(w, "%s\r\n", want);
    *w = '\0';
    return out;
}

static int send_invite(sc_dialog_t *d, const char *const *lines, const char *ctype, sc_str_t sdp,
                       sc_response_cb cb, void *arg)
{
    if (d == NULL || !d->live || d->reinvite_out || d->reinvite_in || d->ok.s)
        return -1;      /* §14.1: not while another INVITE transaction is in progress */
    sc_msg_t *m = in_dialog(d, SC_METHOD_INVITE, SC_STR_NULL, lines, ctype, sdp);
    if (m == NULL || sc_dialog_send(d, m, cb, arg) != 0)
        return -1;
    d->reinvite_out = true;
    dreq_t *r = last_sent(d);
    if (sdp.len && (r->offer = malloc(sdp.len)) != NULL) {
        memcpy(r->offer, sdp.s, sdp.len);
        r->offer_len = sdp.len;
    }
    return 0;
}

int sc_dialog_modify(sc_dialog_t *d, const char *sdp, sc_response_cb cb, void *arg)
{
    if (sdp == NULL || d == NULL)
        return -1;
    bool hold = strcmp(sdp, "hold") == 0, unhold = strcmp(sdp, "unhold") == 0;
    char *made = hold || unhold ? directed_sdp(&d->local_sdp, hold) : NULL;
    if ((hold || unhold) && made == NULL)
        return -1;
    int rc = send_invite(d, NULL, NULL, sc_str_cstr(made ? made : sdp), cb, arg);
    free(made);
    return rc;
}

static int dialog_request(sc_dialog_t *d, const sc_request_opts_t *o, sc_response_cb cb, void *arg)
{
    sc_method_t method = sc_method_from_str(sc_str_cstr(o->method));
    switch (method) {
    case SC_METHOD_INVITE:
        return send_invite(d, o->headers, o->content_type, o->body, cb, arg);
    case SC_METHOD_ACK:
    case SC_METHOD_CANCEL:
        return -1;          /* the core's own business */
    case SC_METHOD_BYE:
        return sc_dialog_destroy(d, o->headers, cb, arg);
    default:
        break;
    }
    sc_msg_t *m = in_dialog(d, method, sc_str_cstr(o->method), o->headers, o->content_type, o->body);
    return m ? sc_dialog_send(d, m, cb, arg) : -1;
}

int sc_dialog_request(sc_dialog_t *d, const sc_request_opts_t *o, sc_response_cb cb, void *arg)
{
    if (d == NULL || !d->live || o == NULL || o->method == NULL)
        return -1;
    dreq_t *before = last_sent(d);
    d->refs++;                          /* a BYE ends it: the struct stays for this */
    int rc = dialog_request(d, o, cb, arg);
    dreq_t *r = last_sent(d);
    if (rc == 0 && o->on_request && r && r != before)   /* (one waiting for DNS: later, unseen) */
        o->on_request(sc_msg_serialize(sc_txn_request(r->txn)), arg);
    unref(d);
    return rc;
}

/* --- the UAS core: our 2xx until its ACK ------------------------------------ */

static void on_ok_timer(void *arg)
{
    sc_dialog_t *d = arg;
    if (d->ok.s == NULL)
        return;
    sc_sipm_retransmission(SC_SIPM_TX);
    sc_txn_layer_send(d->chain->stack.txns, &d->ok_flow, d->ok.s, d->ok.len);
    uint64_t t2 = conf_of(d)->t2_ms;
    d->ok_every = d->ok_every * 2 < t2 ? d->ok_every * 2 : t2;
    sc_timer_arm(&d->ok_timer, d->ok_every);
}

/* §13.3.1.4: no ACK within 64*T1: the dialog is confirmed and then ended
 * with a BYE. */
static void on_ok_giveup(void *arg)
{
    sc_dialog_t *d = arg;
    sc_log(SC_LOG_WARN, "dialog %s: no ACK for our 2xx within 64*T1: sending BYE", d->dlg->id);
    blob_clear(&d->ok);
    sc_timer_disarm(&d->ok_timer);
    sc_dialog_end(d, "system-initiated-termination");
}

/* §9: the UAS's part in a 2xx to an INVITE or UPDATE: the interval the
 * request asked for (or ours, when it asked none), the refresher it
 * named — kept as named: "uac" is the UAC's own choice and says it does
 * timers even without Supported: timer — else the UAC when it supports
 * timers, else us.  A 2xx the module wrote its Session-Expires into is
 * left as written and the timer follows it (a refresher not named there
 * is the UAC, as sc_dialog_session_from reads it on the other side). */
static void session_answer(sc_dialog_t *d, const sc_msg_t *m, sc_msg_t *resp)
{
    unsigned se = d->chain->session_expires_s;
    int ref = REFRESHER_NONE;
    d->se_next = 0;
    if (session_expires(resp, &se, &ref)) {
        d->se_next = se;
        d->we_refresh_next = ref == REFRESHER_UAS;
        return;
    }
    bool asked = session_expires(m, &se, &ref);
    bool uac_can = supports_timer(m);
    if (se == 0 || resp->hdr[SC_HDR_SESSION_EXPIRES])
        return;
    if (asked && se < d->chain->min_se_s)
        se = d->chain->min_se_s;        /* (sc_uas_create and sc_b2bua_create answer 422
                                           before a 2xx could say less) */
    if (ref == REFRESHER_NONE)
        ref = uac_can ? REFRESHER_UAC : REFRESHER_UAS;
    char v[48];
    snprintf(v, sizeof(v), "%u;refresher=%s", se, ref == REFRESHER_UAC ? "uac" : "uas");
    sc_msg_add_header(resp, SC_STR_LIT("Session-Expires"), sc_str_cstr(v), NULL);
    if (ref == REFRESHER_UAC)
        sc_msg_add_header(resp, SC_STR_LIT("Require"), SC_STR_LIT("timer"), NULL);
    d->se_next = se;
    d->we_refresh_next = ref == REFRESHER_UAS;
}

void sc_dialog_answering(sc_dialog_t *d, sc_req_t *req, sc_msg_t *resp)
{
    const sc_msg_t *m = req->msg;
    if (resp->status >= 200 && resp->status < 300 &&
        (m->method == SC_METHOD_INVITE || m->method == SC_METHOD_UPDATE))
        session_answer(d, m, resp);
    bool makes = m->method == SC_METHOD_INVITE || m->method == SC_METHOD_SUBSCRIBE ||
                 m->method == SC_METHOD_UPDATE;
    if (!makes || resp->status < 101 || resp->status >= 300 || resp->contact ||
        d->dlg->local_target[0] == '\0')
        return;
    char contact[300];
    snprintf(contact, sizeof(contact), "<%s>", d->dlg->local_target);
    sc_msg_add_header(resp, SC_STR_LIT("Contact"), sc_str_cstr(contact), NULL);
}

void sc_dialog_answered(sc_dialog_t *d, sc_req_t *req, const sc_msg_t *resp, int sent)
{
    const sc_msg_t *m = req->msg;
    if (resp->status >= 200 && req == d->reinvite_in)
        d->reinvite_in = NULL;
    if (resp->status > 100 && resp->status < 200 && sent == 0 && resp->hdr[SC_HDR_RSEQ]) {
        if (resp->body.len)
            blob_set(&d->local_sdp, resp->body);
        rel_sent(d, req, resp);
        return;
    }
    if (resp->status >= 200 && req == d->rel_req)
        rel_clear(d);       /* the final answer ends its provisionals */
    if (d->early && resp->status >= 200) {
        if (resp->status >= 300 || sent != 0) {
            sc_dialog_drop(d);      /* the call did not happen */
            return;
        }
        sc_dialog_early(d, false);
    }
    if (resp->status < 200 || resp->status >= 300 || !d->live)
        return;
    if (resp->body.len && (m->method == SC_METHOD_INVITE || m->method == SC_METHOD_UPDATE))
        blob_set(&d->local_sdp, resp->body);
    if (sent == 0 && (m->method == SC_METHOD_INVITE || m->method == SC_METHOD_UPDATE))
        session_arm(d, d->se_next, d->we_refresh_next);     /* a refresh restarts it */
    if (m->method != SC_METHOD_INVITE || sent != 0)
        return;
    sc_str_t out = sc_msg_serialize(resp);
    if (out.s == NULL || blob_set(&d->ok, out) != 0)
        return;
    sc_source_release(&d->ok_flow);
    d->ok_flow = *sc_txn_flow(req->txn);
    sc_source_hold(&d->ok_flow);
    d->ok_cseq = m->cseq.num;
    const sc_txn_conf_t *cf = conf_of(d);
    if (d->ok_flow.kind == SC_TP_UDP) {         /* a stream delivers it once */
        d->ok_every = cf->t1_ms;
        sc_timer_arm(&d->ok_timer, d->ok_every);
    }
    sc_timer_arm(&d->ok_giveup, 64ull * cf->t1_ms);
}

/* --- the UAS core: reliable provisionals (RFC 3262 §3) ---------------------- */

int sc_dialog_rseq(sc_dialog_t *d, sc_msg_t *resp)
{
    if (d->rel.s)
        return -1;      /* §3: not a second one before the first is PRACKed */
    char v[16];
    snprintf(v, sizeof(v), "%u", ++d->rseq);
    return sc_msg_add_header(resp, SC_STR_LIT("RSeq"), sc_str_cstr(v), NULL);
}

bool sc_dialog_rel_sdp_pending(const sc_dialog_t *d)
{
    return d && d->rel.s && d->rel_sdp;
}

static void rel_clear(sc_dialog_t *d)
{
    blob_clear(&d->rel);
    d->rel_sdp = false;
    sc_timer_disarm(&d->rel_timer);
    sc_timer_disarm(&d->rel_giveup);
    d->rel_req = NULL;
}

static void on_rel_timer(void *arg)
{
    sc_dialog_t *d = arg;
    if (d->rel.s == NULL)
        return;
    sc_sipm_retransmission(SC_SIPM_TX);
    sc_txn_layer_send(d->chain->stack.txns, &d->rel_flow, d->rel.s, d->rel.len);
    d->rel_every *= 2;
    sc_timer_arm(&d->rel_timer, d->rel_every);
}

/* §3: no PRACK within 64*T1: the INVITE is refused. */
static void on_rel_giveup(void *arg)
{
    sc_dialog_t *d = arg;
    sc_req_t *req = d->rel_req;
    sc_log(SC_LOG_WARN, "dialog %s: no PRACK for our reliable provisional: 500", d->dlg->id);
    rel_clear(d);
    if (req && !req->done) {
        bool taken = req->taker != NULL;
        sc_req_answer(req, 500, "No PRACK for the reliable provisional response", NULL, NULL,
                      SC_STR_NULL);
        if (taken && req->taker == NULL)
            sc_req_settle(req);     /* a B2BUA let go of it on that answer */
        else
            req->core_answered = true;  /* the module still holds it: freed on its late call */
    }
}

static void rel_sent(sc_dialog_t *d, sc_req_t *req, const sc_msg_t *resp)
{
    sc_str_t out = sc_msg_serialize(resp);
    if (out.s == NULL || blob_set(&d->rel, out) != 0)
        return;
    sc_source_release(&d->rel_flow);
    d->rel_flow = *sc_txn_flow(req->txn);
    sc_source_hold(&d->rel_flow);
    d->rel_req = req;
    d->rel_sdp = resp->body.len > 0;
    const sc_txn_conf_t *cf = conf_of(d);
    if (d->rel_flow.kind == SC_TP_UDP) {
        d->rel_every = cf->t1_ms;
        sc_timer_arm(&d->rel_timer, d->rel_every);
    }
    sc_timer_arm(&d->rel_giveup, 64ull * cf->t1_ms);
}

/* A PRACK: for our pending reliable provisional (RAck: its RSeq, the
 * INVITE's CSeq), else 481. */
static void prack(sc_dialog_t *d, sc_req_t *req)
{
    const sc_msg_t *m = req->msg;
    const sc_hdr_t *h = m->hdr[SC_HDR_RACK];
    unsigned rseq = 0, cseq = 0;
    char buf[64] = "";
    if (h && h->value.len < sizeof(buf)) {
        memcpy(buf, h->value.s, h->value.len);
        sscanf(buf, "%u %u", &rseq, &cseq);
    }
    if (d->rel.s == NULL || rseq != d->rseq || d->rel_req == NULL ||
        cseq != d->rel_req->msg->cseq.num) {
        sc_res_send(&req->res, 481, "No such reliable provisional response");
        return;
    }
    sc_req_t *inv = d->rel_req;
    rel_clear(d);
    if (m->body.len)
        blob_set(&d->remote_sdp, m->body);
    sc_res_send(&req->res, 200, NULL);
    /* a 2xx held for this PRACK (a B2BUA's) may go now, after its 200 */
    if (!inv->done && inv->on_pracked)
        inv->on_pracked(inv->taker);
}

bool sc_dialog_receive_ack(const sc_stack_t *st, const sc_msg_t *ack, const sc_source_t *src)
{
    sc_dialog_t *d = st->dialogs ? live_owner(sc_dlg_table_match(st->dialogs, ack)) : NULL;
    if (d == NULL)
        return false;
    bool first = d->ok.s && ack->cseq.num == d->ok_cseq;
    if (first) {
        blob_clear(&d->ok);
        sc_timer_disarm(&d->ok_timer);
        sc_timer_disarm(&d->ok_giveup);
        if (ack->body.len)          /* the answer to the offer in our 2xx */
            blob_set(&d->remote_sdp, ack->body);
    }
    /* the module hears it (SC_DIALOG_REQUEST, else SC_DIALOG_ACK): an
     * application that answered a re-INVITE without SDP learns the
     * answer only here */
    sc_dialog_event_t ev = d->on[SC_DIALOG_REQUEST].cb ? SC_DIALOG_REQUEST : SC_DIALOG_ACK;
    sc_dialog_cb cb = d->on[ev].cb;
    if (first && cb) {
        /* an ACK has no transaction: a request view of it for the
         * call, never answerable */
        sc_req_t view = { .chain = d->chain, .pos = d->chain->n, .msg = (sc_msg_t *)ack,
                          .src = *src, .done = true, .dialog = d };
        view.res.req = &view;
        d->refs++;
        cb(d, ev, &view, NULL, d->on[ev].arg);
        unref(d);
    }
    return true;
}

/* --- requests received in it ------------------------------------------------ */

/* Hands req to the module's handler of ev; false when it has none. */
static bool to_handler(sc_dialog_t *d, sc_dialog_event_t ev, sc_req_t *req, bool answerable)
{
    if (d->on[ev].cb == NULL)
        return false;
    req->depth++;
    d->on[ev].cb(d, ev, req, answerable ? &req->res : NULL, d->on[ev].arg);
    req->depth--;
    return true;
}

static void answer(sc_req_t *req, unsigned status, const char *reason, const blob_t *sdp)
{
    if (sdp && sdp->len)
        sc_res_set_body(&req->res, "application/sdp", blob_str(sdp));
    sc_res_send(&req->res, status, reason);
}

/* RFC 3264 §8.4 read from the offer: held when it sends only, or not at
 * all, or to the null address. */
static bool holds(sc_str_t sdp)
{
    static const char *const marks[] = { "a=sendonly", "a=inactive", "c=IN IP4 0.0.0.0" };
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(marks[i]);
        for (size_t j = 0; j + n <= sdp.len; j++)
            if (memcmp(sdp.s + j, marks[i], n) == 0)
                return true;
    }
    return false;
}

static void reinvite(sc_dialog_t *d, sc_req_t *req)
{
    const sc_msg_t *m = req->msg;
    if (d->reinvite_out) {
        sc_res_send(&req->res, 491, NULL);          /* §14.2 glare */
        return;
    }
    if (d->reinvite_in || d->ok.s) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", (unsigned)(rand() % 10));
        sc_res_add_header(&req->res, "Retry-After", ra);
        sc_res_send(&req->res, 500, "Previous INVITE still in progress");
        return;
    }
    sc_dlg_refresh_target(d->dlg, m);
    sc_dialog_event_t note = SC_DIALOG_REFRESH;
    if (m->body.len && !sc_str_eq(m->body, blob_str(&d->remote_sdp))) {
        bool held = holds(m->body);
        note = held && !d->held ? SC_DIALOG_HOLD : !held && d->held ? SC_DIALOG_UNHOLD
                                                                   : SC_DIALOG_MODIFY;
        d->held = held;
        blob_set(&d->remote_sdp, m->body);
    }
    d->reinvite_in = req;
    if (note == SC_DIALOG_MODIFY || d->on[SC_DIALOG_MODIFY].cb) {
        if (to_handler(d, SC_DIALOG_MODIFY, req, true))
            return;
    }
    answer(req, 200, NULL, &d->local_sdp);
    if (note != SC_DIALOG_MODIFY)
        to_handler(d, note, req, false);
}

/* RFC 6665 §4.2.1.2: a refresh restarts the subscription's clock; an
 * Expires of 0 ends it (the final NOTIFY goes out). */
static void subscribe_again(sc_dialog_t *d, sc_req_t *req)
{
    const sc_msg_t *m = req->msg;
    if (!d->subscription || d->dlg->uac) {
        sc_res_send(&req->res, 489, "Bad Event");
        return;
    }
    unsigned expires = m->has_expires ? (m->expires > 3600 ? 3600 : m->expires) : 3600;
    char v[16];
    snprintf(v, sizeof(v), "%u", expires);
    sc_res_add_header(&req->res, "Expires", v);
    sc_res_send(&req->res, 200, NULL);
    if (expires == 0) {
        d->se = 0;
        d->refs++;
        sc_dialog_end(d, "normal-release");
        unref(d);
        return;
    }
    d->se = expires;
    sc_timer_arm(&d->se_timer, expires * 1000ull);
}

static bool subscription_over(const sc_msg_t *m)
{
    sc_hdr_t *h = m->hdr[SC_HDR_SUBSCRIPTION_STATE];
    return h && h->value.len >= 10 && sc_mem_caseeq(h->value.s, "terminated", 10);
}

/* The far end ended it with req (BYE, or NOTIFY terminated), answered. */
static void ended_by_peer(sc_dialog_t *d, sc_req_t *req)
{
    cdr_stop(d, "network", "normal-release", req->msg);
    end_silent(d);
    emit_destroy(d, req);
}

/* SC_DIALOG_REQUEST: the module answers every request; the core keeps
 * the dialog's state as the request changes it. */
static void to_module(sc_dialog_t *d, sc_req_t *req)
{
    const sc_msg_t *m = req->msg;
    switch (m->method) {
    case SC_METHOD_INVITE:
        if (d->reinvite_out) {
            sc_res_send(&req->res, 491, NULL);          /* §14.2 glare */
            return;
        }
        if (d->reinvite_in || d->ok.s) {
            sc_res_add_header(&req->res, "Retry-After", "1");
            sc_res_send(&req->res, 500, "Previous INVITE still in progress");
            return;
        }
        d->reinvite_in = req;
        /* fall through */
    case SC_METHOD_UPDATE:
    case SC_METHOD_NOTIFY:
        sc_dlg_refresh_target(d->dlg, m);
        if (m->body.len && m->method != SC_METHOD_NOTIFY)
            blob_set(&d->remote_sdp, m->body);
        break;
    case SC_METHOD_PRACK: {
        const sc_hdr_t *h = m->hdr[SC_HDR_RACK];
        unsigned rseq = 0;
        if (h)
            rseq = (unsigned)strtoul(h->value.s, NULL, 10);
        if (d->rel.s == NULL || rseq != d->rseq) {
            sc_res_send(&req->res, 481, "No such reliable provisional response");
            return;
        }
        rel_clear(d);
        if (m->body.len)
            blob_set(&d->remote_sdp, m->body);
        break;
    }
    default:
        break;
    }
    to_handler(d, SC_DIALOG_REQUEST, req, true);
    if (m->method == SC_METHOD_BYE || (m->method == SC_METHOD_NOTIFY && subscription_over(m)))
        ended_by_peer(d, req);
}

bool sc_dialog_receive(const sc_stack_t *st, sc_txn_t *t, const sc_source_t *src)
{
    const sc_msg_t *m = sc_txn_request(t);
    sc_dialog_t *d = st->dialogs ? live_owner(sc_dlg_table_match(st->dialogs, m)) : NULL;
    if (d == NULL)
        return false;
    sc_req_t *req = sc_req_new(d->chain, t, src);
    if (req == NULL)
        return true;            /* unanswered: the peer retransmits */
    req->pos = d->chain->n;     /* past the chain: sc_next gives the default */
    req->dialog = d;
    req->holds_dialog = true;   /* an answer later still finds it */
    d->refs++;
    req->depth++;
    if (!sc_dlg_accept_cseq(d->dlg, m)) {
        sc_res_send(&req->res, 500, "CSeq lower than the last in this dialog");
        goto out;
    }
    if (d->on[SC_DIALOG_REQUEST].cb) {
        to_module(d, req);
        goto out;
    }
    static const sc_dialog_event_t ev_of[] = {
        [SC_METHOD_INFO] = SC_DIALOG_INFO,       [SC_METHOD_NOTIFY] = SC_DIALOG_NOTIFY,
        [SC_METHOD_OPTIONS] = SC_DIALOG_OPTIONS, [SC_METHOD_UPDATE] = SC_DIALOG_UPDATE,
        [SC_METHOD_REFER] = SC_DIALOG_REFER,     [SC_METHOD_MESSAGE] = SC_DIALOG_MESSAGE,
    };
    switch (m->method) {
    case SC_METHOD_BYE:
        sc_res_send(&req->res, 200, NULL);
        ended_by_peer(d, req);
        break;
    case SC_METHOD_INVITE:
        reinvite(d, req);
        break;
    case SC_METHOD_UPDATE:
        sc_dlg_refresh_target(d->dlg, m);
        if (m->body.len)
            blob_set(&d->remote_sdp, m->body);
        if (!to_handler(d, SC_DIALOG_UPDATE, req, true))
            answer(req, 200, NULL, m->body.len ? &d->local_sdp : NULL);
        break;
    case SC_METHOD_NOTIFY:
    case SC_METHOD_INFO:
    case SC_METHOD_OPTIONS:
    case SC_METHOD_REFER:
    case SC_METHOD_MESSAGE:
        if (m->method == SC_METHOD_NOTIFY)
            sc_dlg_refresh_target(d->dlg, m);
        if (!to_handler(d, ev_of[m->method], req, true))
            sc_res_send(&req->res, 200, NULL);
        if (m->method == SC_METHOD_NOTIFY && subscription_over(m) && d->live)
            ended_by_peer(d, req);
        break;
    case SC_METHOD_PRACK:
        prack(d, req);
        break;
    case SC_METHOD_SUBSCRIBE:
        subscribe_again(d, req);
        break;
    default:
        sc_res_add_header(&req->res, "Allow",
                          "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, NOTIFY, REFER, MESSAGE, PRACK");
        sc_res_send(&req->res, 405, NULL);
        break;
    }
out:
    req->depth--;
    sc_req_settle(req);
    return true;
}

/* --- chain end and stop ----------------------------------------------------- */

void sc_chain_end_dialogs(sc_chain_t *c)
{
    c->ending = true;
    /* from the head each time: a destroy handler may end others */
    for (;;) {
        sc_dialog_t *d = sc_list_first(&c->dialogs, sc_dialog_t, link);
        while (d && !d->live)
            d = sc_list_next(d, sc_dialog_t, link);
        if (d == NULL)
            return;
        sc_dialog_end(d, "system-initiated-termination");
    }
}

void sc_chain_walk_dialogs(sc_chain_t *c, void (*fn)(sc_dialog_t *d, const sc_instance_t *owner, void *arg),
                           void *arg)
{
    for (sc_dialog_t *d = sc_list_first(&c->dialogs, sc_dialog_t, link); d;
         d = sc_list_next(d, sc_dialog_t, link))
        if (d->live)
            fn(d, d->inst, arg);
}

void sc_chain_drop_dialogs(sc_chain_t *c)
{
    sc_dialog_t *d;
    while ((d = sc_list_first(&c->dialogs, sc_dialog_t, link)) != NULL) {
        d->refs++;
        memset(d->on, 0, sizeof(d->on));
        end_silent(d);
        dreq_t *r;
        while ((r = last_sent(d)) != NULL) {
            sc_txn_set_tu(r->txn, NULL, NULL);
            dreq_free(r);
        }
        sc_hop_fini(&d->hop);           /* what waits for it goes nowhere */
        for (parked_t *p = d->parked, *n; p; p = n) {
            n = p->next;
            sc_msg_free(p->m);
            free(p);
            c->ndreqs--;
            d->refs--;
        }
        d->parked = NULL;
        d->parked_end = &d->parked;
        unref(d);
    }
}
