/*
 * txn.c — the transaction layer; see txn.h.  State names and timer
 * letters follow RFC 3261 §17 figures 5–8 and RFC 6026 figures 5–6, so
 * the code reads beside the RFC.
 */
#include "txn.h"
#include "txn_done.h"
#include "sip_metrics.h"

#include <stdlib.h>
#include <string.h>

const sc_txn_conf_t sc_txn_conf_default = {
    .t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .max_txns = 100000,
};

struct sc_txn {
    sc_txn_layer_t *layer;
    sc_txn_kind_t   kind;
    sc_txn_state_t  state;
    unsigned        refs;
    bool            reliable;
    bool            rfc2543;        /* matched by the §17.2.3 fallback */
    sc_source_t     flow;
    uint32_t        hash;
    sc_txn_t       *hnext;          /* hash chain */
    sc_txn_t       *prev, *next;    /* every live transaction */
    sc_msg_t       *req;            /* NULL once forgotten (sc_txn_forget_request) */
    char           *raw;            /* server: the bytes req was parsed from */
    /* what matching needs once req is forgotten (§17.1.3, §17.2.3; the
     * method is INVITE's): the branch, then a server's sent-by host */
    char           *key;
    uint16_t        key_branch, key_host, key_port;
    uint64_t        done_at;        /* NIST: when timer J fires */
    char           *out;            /* what a retransmission resends */
    size_t          outlen;
    char           *ack;            /* ICT: the ACK for a non-2xx */
    size_t          acklen;
    unsigned        status;
    char            to_tag[64];     /* server: the To tag its responses carry */
    size_t          to_tag_len;
    uint64_t        interval;       /* current A, E or G */
    sc_timer_t      retx;           /* A, E, G */
    sc_timer_t      end;            /* B, D, F, H, I, J, K, L, M */
    sc_timer_t      trying;         /* NIST: the RFC 4320 100 */
    sc_txn_cb       cb;
    void           *arg;
};

struct sc_txn_layer {
    sc_clock_t     *clock;
    sc_txn_conf_t   conf;
    sc_txn_send_fn  send;
    void           *send_ctx;
    sc_txn_t      **buckets;
    size_t          nbuckets;       /* power of two */
    unsigned        count;
    unsigned        busy;           /* of those, not answered yet (busy()) */
    sc_txn_t       *all;
    sc_txn_done_t  *done;           /* completed NISTs nobody holds */
};

/* --- hashing and matching --------------------------------------------- */

static uint32_t mix(uint32_t h, const char *s, size_t n, bool fold)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        h = (h ^ (fold ? sc_lower(c) : c)) * 16777619u;
    }
    return h;
}

static uint32_t mix_u(uint32_t h, uint32_t v)
{
    return mix(h, (const char *)&v, sizeof(v), false);
}

/* The method a request matches transactions by: ACK belongs to INVITE's. */
static sc_str_t method_class(const sc_msg_t *m)
{
    if (m->method == SC_METHOD_ACK || m->method == SC_METHOD_INVITE)
        return SC_STR_LIT("INVITE");
    return m->method_str;
}

static bool is_rfc3261(const sc_msg_t *m)
{
    return m->via && m->via->has_branch && sc_branch_is_rfc3261(m->via->branch);
}

static uint32_t server_hash(const sc_msg_t *m, sc_str_t mclass)
{
    uint32_t h = 2166136261u;
    if (is_rfc3261(m)) {
        h = mix(h, m->via->branch.s, m->via->branch.len, false);
        h = mix(h, m->via->host.s, m->via->host.len, true);
        h = mix_u(h, m->via->port);
    } else {
        h = mix_u(h, 2543);
        h = mix(h, m->call_id.s, m->call_id.len, false);
        if (m->from)
            h = mix(h, m->from->tag.s, m->from->tag.len, false);
        h = mix_u(h, m->cseq.num);
    }
    return mix(h, mclass.s, mclass.len, false);
}

static uint32_t client_hash(sc_str_t branch, sc_str_t method)
{
    uint32_t h = mix_u(2166136261u, 3261);
    h = mix(h, branch.s, branch.len, false);
    return mix(h, method.s, method.len, false);
}

static sc_str_t tag_of(const sc_addr_t *a)
{
    return a ? a->tag : SC_STR_NULL;
}

/* §17.2.3: does request m (of method class mclass) belong to server t? */
static bool server_matches(const sc_txn_t *t, const sc_msg_t *m, sc_str_t mclass)
{
    const sc_msg_t *o = t->req;
    if (t->kind != SC_TXN_IST && t->kind != SC_TXN_NIST)
        return false;
    if (o == NULL)                      /* forgotten: an RFC 3261 INVITE's */
        return is_rfc3261(m) && sc_str_eq(mclass, SC_STR_LIT("INVITE")) &&
               sc_str_eq(m->via->branch, sc_str(t->key, t->key_branch)) &&
               sc_str_caseeq(m->via->host, sc_str(t->key + t->key_branch, t->key_host)) &&
               m->via->port == t->key_port;
    if (!sc_str_eq(method_class(o), mclass))
        return false;
    if (!t->rfc2543) {
        return is_rfc3261(m) && sc_str_eq(m->via->branch, o->via->branch) &&
               sc_str_caseeq(m->via->host, o->via->host) && m->via->port == o->via->port;
    }
    if (is_rfc3261(m) || !sc_str_eq(m->call_id, o->call_id) || m->cseq.num != o->cseq.num ||
        !sc_str_eq(tag_of(m->from), tag_of(o->from)) || !sc_str_eq(m->ruri_str, o->ruri_str) ||
        m->via == NULL || !sc_str_eq(m->via->raw, o->via->raw))
        return false;
    /* the ACK carries the To tag of our response; anything else the
     * INVITE's own */
    sc_str_t want = m->method == SC_METHOD_ACK ? sc_str(t->to_tag, t->to_tag_len) : tag_of(o->to);
    return sc_str_eq(tag_of(m->to), want);
}

static sc_txn_t *server_find(sc_txn_layer_t *l, const sc_msg_t *m, sc_str_t mclass, uint32_t h)
{
    for (sc_txn_t *t = l->buckets[h & (l->nbuckets - 1)]; t; t = t->hnext)
        if (t->hash == h && server_matches(t, m, mclass))
            return t;
    return NULL;
}

/* Work in progress: a transaction with no final answer yet.  Only these
 * count against max_transactions: one waiting out its timers (an
 * answered INVITE's 32 s of Accepted, a Completed one's timer D, H, J
 * or K) holds memory but no work, and counting it would cap the call
 * rate at max_transactions / 64*T1. */
static bool busy(sc_txn_state_t s)
{
    return s == SC_TS_TRYING || s == SC_TS_CALLING || s == SC_TS_PROCEEDING;
}

static void set_state(sc_txn_t *t, sc_txn_state_t s)
{
    if (busy(t->state) && !busy(s))
        t->layer->busy--;
    t->state = s;
}

static void hash_insert(sc_txn_layer_t *l, sc_txn_t *t)
{
    if (l->count >= l->nbuckets) {      /* grow at load 1 */
        size_t n = l->nbuckets * 2;
        sc_txn_t **b = calloc(n, sizeof(*b));
        if (b) {
            for (size_t i = 0; i < l->nbuckets; i++)
                for (sc_txn_t *x = l->buckets[i], *nx; x; x = nx) {
                    nx = x->hnext;
                    x->hnext = b[x->hash & (n - 1)];
                    b[x->hash & (n - 1)] = x;
                }
            free(l->buckets);
            l->buckets = b;
            l->nbuckets = n;
        }
    }
    sc_txn_t **head = &l->buckets[t->hash & (l->nbuckets - 1)];
    t->hnext = *head;
    *head = t;
    t->next = l->all;
    if (l->all)
        l->all->prev = t;
    l->all = t;
    l->count++;
    l->busy += busy(t->state);
}

static void hash_remove(sc_txn_layer_t *l, sc_txn_t *t)
{
    for (sc_txn_t **p = &l->buckets[t->hash & (l->nbuckets - 1)]; *p; p = &(*p)->hnext)
        if (*p == t) {
            *p = t->hnext;
            break;
        }
    if (t->prev)
        t->prev->next = t->next;
    else
        l->all = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    l->count--;
    l->busy -= busy(t->state);
}

/* --- lifetime ----------------------------------------------------------- */

static void txn_destroy(sc_txn_t *t)
{
    sc_timer_fini(&t->retx);
    sc_timer_fini(&t->end);
    sc_timer_fini(&t->trying);
    sc_source_release(&t->flow);
    sc_msg_free(t->req);
    free(t->raw);
    free(t->key);
    free(t->out);
    free(t->ack);
    free(t);
}

void sc_txn_ref(sc_txn_t *t)
{
    t->refs++;
}

/* Compacting frees the transaction, so it waits for a 0 ms timer: whoever
 * let go of it, or answered it, may still be on the stack. */
static void compact_later(sc_txn_t *t)
{
    if (t->refs == 1 && t->kind == SC_TXN_NIST && t->state == SC_TS_COMPLETED && !t->reliable &&
        t->cb == NULL)
        sc_timer_arm(&t->retx, 0);
}

void sc_txn_unref(sc_txn_t *t)
{
    if (--t->refs == 0)
        txn_destroy(t);
    else
        compact_later(t);
}

static void notify(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg)
{
    if (t->cb)
        t->cb(t, ev, msg, t->arg);
}

static void terminate(sc_txn_t *t)
{
    if (t->state == SC_TS_TERMINATED)
        return;
    set_state(t, SC_TS_TERMINATED);
    sc_timer_disarm(&t->retx);
    sc_timer_disarm(&t->end);
    sc_timer_disarm(&t->trying);
    hash_remove(t->layer, t);
    sc_txn_ref(t);
    notify(t, SC_TXN_EV_TERMINATED, NULL);
    t->cb = NULL;
    sc_txn_unref(t);
    sc_txn_unref(t);        /* the layer's */
}

/* An event for the TU that may end the transaction: the TU's callback
 * may respond, take references or drop them meanwhile. */
static void fail(sc_txn_t *t, sc_txn_ev_t ev)
{
    sc_txn_ref(t);
    notify(t, ev, NULL);
    terminate(t);
    sc_txn_unref(t);
}

/* A completed non-INVITE server transaction over UDP that only the layer
 * still holds, and no TU listens to, moves to the store of answers
 * (txn_done.h) for the rest of timer J and ends here.  Matched the RFC
 * 3261 way only (the RFC 2543 fallback compares the whole request); a
 * record that cannot be made leaves the transaction whole, which is
 * merely bigger. */
static void compact(sc_txn_t *t)
{
    const sc_msg_t *o = t->req;
    if (t->kind != SC_TXN_NIST || t->state != SC_TS_COMPLETED || t->refs != 1 || t->cb ||
        t->reliable || t->rfc2543)
        return;
    sc_txn_done_key_t k = { .hash = t->hash, .branch = o->via->branch, .host = o->via->host,
                            .method = method_class(o), .port = o->via->port };
    if (sc_txn_done_add(t->layer->done, &k, &t->flow, t->out, t->outlen, t->done_at) == 0)
        terminate(t);
}

static int transmit(sc_txn_t *t, const char *buf, size_t len)
{
    sc_txn_layer_t *l = t->layer;
    return l->send(l->send_ctx, &t->flow, buf, len);
}

/* --- timers ------------------------------------------------------------- */

static uint64_t t64(const sc_txn_t *t)
{
    return 64ull * t->layer->conf.t1_ms;
}

static void on_retx(void *arg)
{
    sc_txn_t *t = arg;
    const sc_txn_conf_t *c = &t->layer->conf;
    if (t->kind == SC_TXN_NIST) {       /* a server never resends by timer: see compact_later */
        compact(t);
        return;
    }
    const char *buf = t->out;
    size_t len = t->outlen;
    if (t->kind == SC_TXN_ICT)
        t->interval *= 2;                                   /* timer A */
    else if (t->kind == SC_TXN_NICT && t->state == SC_TS_PROCEEDING)
        t->interval = c->t2_ms;                             /* timer E */
    else
        t->interval = t->interval * 2 < c->t2_ms ? t->interval * 2 : c->t2_ms;  /* E, G */
    sc_sipm_retransmission(SC_SIPM_TX);
    if (transmit(t, buf, len) != 0) {
        fail(t, SC_TXN_EV_TRANSPORT_ERROR);
        return;
    }
    sc_timer_arm(&t->retx, t->interval);
}

static void on_end(void *arg)
{
    sc_txn_t *t = arg;
    bool timeout = (t->kind == SC_TXN_ICT && t->state == SC_TS_CALLING) ||          /* B */
                   (t->kind == SC_TXN_NICT && t->state != SC_TS_COMPLETED) ||      /* F */
                   (t->kind == SC_TXN_IST && t->state == SC_TS_COMPLETED);         /* H */
    if (timeout)
        fail(t, SC_TXN_EV_TIMEOUT);
    else
        terminate(t);       /* D, I, J, K, L, M */
}

static sc_txn_t *txn_new(sc_txn_layer_t *l, sc_txn_kind_t kind, const sc_source_t *flow)
{
    sc_txn_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->layer = l;
    t->kind = kind;
    t->refs = 1;
    t->flow = *flow;
    sc_source_hold(&t->flow);
    t->reliable = flow->kind != SC_TP_UDP;
    sc_timer_init(&t->retx, l->clock, on_retx, t);
    sc_timer_init(&t->end, l->clock, on_end, t);
    return t;
}

static int keep(char **dst, size_t *dlen, const sc_msg_t *m)
{
    size_t need = sc_msg_print(m, NULL, 0);
    char *b = malloc(need + 1);
    if (b == NULL)
        return -1;
    sc_msg_print(m, b, need);
    free(*dst);
    *dst = b;
    *dlen = need;
    return 0;
}

/* --- server transactions ------------------------------------------------ */

/* RFC 4320 §4.1: the moment a client's timer E reaches T2. */
static uint64_t e_reaches_t2(const sc_txn_conf_t *c)
{
    uint64_t at = 0, e = c->t1_ms;
    while (e < c->t2_ms) {
        at += e;
        e *= 2;
    }
    return at;
}

static void send_100(sc_txn_t *t)
{
    /* the request's Via was stamped with received/rport as it arrived;
     * the flow may name another address (a Via's maddr, §18.2.2) */
    sc_msg_t *r = sc_msg_new_response_to(t->req, 100, SC_STR_NULL, SC_STR_NULL);
    if (r)
        sc_txn_respond(t, r);
    sc_msg_free(r);
}

static void on_trying(void *arg)
{
    sc_txn_t *t = arg;
    if (t->state == SC_TS_TRYING)
        send_100(t);
}

sc_rx_t sc_txn_server_receive(sc_txn_layer_t *l, const sc_source_t *flow, char *raw,
                              sc_msg_t *msg, sc_txn_t **out)
{
    *out = NULL;
    sc_str_t mclass = method_class(msg);
    uint32_t hash = server_hash(msg, mclass);
    sc_txn_t *t = server_find(l, msg, mclass, hash);
    if (t == NULL && msg->method != SC_METHOD_ACK && is_rfc3261(msg)) {
        sc_txn_done_key_t k = { .hash = hash, .branch = msg->via->branch, .host = msg->via->host,
                                .method = mclass, .port = msg->via->port };
        if (sc_txn_done_answer(l->done, &k, l->send, l->send_ctx)) {
            sc_sipm_retransmission(SC_SIPM_RX);
            sc_sipm_retransmission(SC_SIPM_TX);
            return SC_RX_ABSORBED;
        }
    }
    if (t && msg->method != SC_METHOD_ACK)
        sc_sipm_retransmission(SC_SIPM_RX);
    else
        sc_sipm_message(SC_SIPM_RX, msg);
    if (msg->method == SC_METHOD_ACK) {
        if (t == NULL || t->kind != SC_TXN_IST)
            return SC_RX_ACK;                   /* a 2xx ACK: the TU's */
        if (t->state == SC_TS_ACCEPTED) {
            *out = t;
            return SC_RX_ACK;
        }
        if (t->state == SC_TS_COMPLETED) {
            set_state(t, SC_TS_CONFIRMED);         /* stop G and H, start I */
            sc_timer_disarm(&t->retx);
            sc_timer_arm(&t->end, t->reliable ? 0 : t->layer->conf.t4_ms);
        }
        return SC_RX_ABSORBED;
    }
    if (t) {
        /* a retransmission: the last response again where there is one */
        if (t->outlen && (t->state == SC_TS_PROCEEDING || t->state == SC_TS_COMPLETED)) {
            sc_sipm_retransmission(SC_SIPM_TX);
            if (transmit(t, t->out, t->outlen) != 0)
                fail(t, SC_TXN_EV_TRANSPORT_ERROR);
        }
        return SC_RX_ABSORBED;
    }
    /* overload sheds new work, never work in progress: a CANCEL or a
     * request inside a dialog (To tag) ends or carries on a call already
     * admitted, and is let in up to twice the limit (a bound on memory
     * even so) */
    bool ongoing = msg->method == SC_METHOD_CANCEL || (msg->to && msg->to->tag.len > 0);
    if (l->busy >= (ongoing ? 2 * l->conf.max_txns : l->conf.max_txns))
        return SC_RX_OVERLOAD;
    bool invite = msg->method == SC_METHOD_INVITE;
    t = txn_new(l, invite ? SC_TXN_IST : SC_TXN_NIST, flow);
    if (t == NULL)
        return SC_RX_OVERLOAD;
    t->req = msg;
    t->raw = raw;
    t->rfc2543 = !is_rfc3261(msg);
    t->hash = hash;
    t->state = invite ? SC_TS_PROCEEDING : SC_TS_TRYING;
    hash_insert(l, t);
    sc_timer_init(&t->trying, l->clock, on_trying, t);
    *out = t;
    if (invite)
        send_100(t);                            /* §17.2.1, at once */
    else if (!t->reliable)
        sc_timer_arm(&t->trying, e_reaches_t2(&l->conf));
    return SC_RX_NEW;
}

void sc_txn_abandon(sc_txn_t *t)
{
    if (busy(t->state))
        terminate(t);
}

int sc_txn_respond(sc_txn_t *t, const sc_msg_t *resp)
{
    unsigned s = resp->status;
    bool invite = t->kind == SC_TXN_IST;
    if (t->kind != SC_TXN_IST && t->kind != SC_TXN_NIST)
        return -1;
    if (!invite && s > 100 && s < 200)
        return -1;                              /* RFC 4320 §4.1 */
    switch (t->state) {
    case SC_TS_TRYING: case SC_TS_PROCEEDING:
        break;
    case SC_TS_ACCEPTED:
        if (s >= 200 && s < 300)
            break;                              /* the TU's 2xx retransmissions */
        return -1;
    default:
        return -1;
    }
    if (keep(&t->out, &t->outlen, resp) != 0)
        return -1;
    if (t->state == SC_TS_ACCEPTED && t->status == s)
        sc_sipm_retransmission(SC_SIPM_TX);     /* the TU resending its 2xx */
    else
        sc_sipm_message(SC_SIPM_TX, resp);
    t->status = s;
    if (resp->to && resp->to->tag.len && resp->to->tag.len <= sizeof(t->to_tag)) {
        memcpy(t->to_tag, resp->to->tag.s, resp->to->tag.len);
        t->to_tag_len = resp->to->tag.len;
    }
    if (transmit(t, t->out, t->outlen) != 0) {
        fail(t, SC_TXN_EV_TRANSPORT_ERROR);
        return -1;
    }
    const sc_txn_conf_t *c = &t->layer->conf;
    if (s < 200) {
        set_state(t, SC_TS_PROCEEDING);
        sc_timer_disarm(&t->trying);
    } else if (!invite) {
        set_state(t, SC_TS_COMPLETED);             /* timer J */
        sc_timer_disarm(&t->trying);
        uint64_t j = t->reliable ? 0 : t64(t);
        sc_timer_arm(&t->end, j);
        t->done_at = sc_clock_now(t->layer->clock) + j;
        compact_later(t);
    } else if (s < 300) {
        if (t->state != SC_TS_ACCEPTED) {
            set_state(t, SC_TS_ACCEPTED);          /* timer L */
            sc_timer_arm(&t->end, t64(t));
        }
    } else {
        set_state(t, SC_TS_COMPLETED);             /* timers G and H */
        if (!t->reliable) {
            t->interval = c->t1_ms;
            sc_timer_arm(&t->retx, t->interval);
        }
        sc_timer_arm(&t->end, t64(t));
    }
    return 0;
}

sc_txn_t *sc_txn_find_cancelled(sc_txn_layer_t *l, const sc_msg_t *cancel)
{
    sc_str_t mclass = SC_STR_LIT("INVITE");
    sc_txn_t *t = server_find(l, cancel, mclass, server_hash(cancel, mclass));
    return t && t->kind == SC_TXN_IST ? t : NULL;
}

bool sc_txn_cancel(sc_txn_t *t, const sc_msg_t *cancel)
{
    if (t->kind != SC_TXN_IST || t->state != SC_TS_PROCEEDING || t->cb == NULL)
        return false;
    sc_txn_ref(t);
    notify(t, SC_TXN_EV_CANCELLED, cancel);
    sc_txn_unref(t);
    return true;
}

/* --- client transactions ------------------------------------------------ */

sc_txn_t *sc_txn_client_new(sc_txn_layer_t *l, sc_msg_t *req, const sc_source_t *flow,
                            sc_txn_cb cb, void *arg)
{
    if (req->via == NULL || !req->has_cseq || req->method == SC_METHOD_ACK) {
        sc_msg_free(req);
        return NULL;
    }
    bool invite = req->method == SC_METHOD_INVITE;
    sc_txn_t *t = txn_new(l, invite ? SC_TXN_ICT : SC_TXN_NICT, flow);
    if (t == NULL || keep(&t->out, &t->outlen, req) != 0) {
        sc_msg_free(req);
        if (t)
            txn_destroy(t);
        return NULL;
    }
    t->req = req;
    t->cb = cb;
    t->arg = arg;
    sc_sipm_message(SC_SIPM_TX, req);
    if (transmit(t, t->out, t->outlen) != 0) {
        txn_destroy(t);
        return NULL;
    }
    t->hash = client_hash(req->via->branch, req->cseq.method_str);
    t->state = invite ? SC_TS_CALLING : SC_TS_TRYING;
    hash_insert(l, t);
    if (!t->reliable) {
        t->interval = l->conf.t1_ms;            /* timer A or E */
        sc_timer_arm(&t->retx, t->interval);
    }
    sc_timer_arm(&t->end, t64(t));              /* timer B or F */
    return t;
}

static sc_txn_t *client_find(sc_txn_layer_t *l, const sc_msg_t *resp)
{
    if (resp->via == NULL || !resp->via->has_branch || !resp->has_cseq)
        return NULL;
    uint32_t h = client_hash(resp->via->branch, resp->cseq.method_str);
    for (sc_txn_t *t = l->buckets[h & (l->nbuckets - 1)]; t; t = t->hnext) {
        if (t->hash != h || (t->kind != SC_TXN_ICT && t->kind != SC_TXN_NICT))
            continue;
        sc_str_t branch = t->req ? t->req->via->branch : sc_str(t->key, t->key_branch);
        sc_str_t method = t->req ? t->req->cseq.method_str : SC_STR_LIT("INVITE");
        if (sc_str_eq(branch, resp->via->branch) && sc_str_eq(method, resp->cseq.method_str))
            return t;
    }
    return NULL;
}

void sc_txn_forget_request(sc_txn_t *t)
{
    const sc_msg_t *o = t->req;
    bool server = t->kind == SC_TXN_IST;
    if ((t->kind != SC_TXN_IST && t->kind != SC_TXN_ICT) || t->state != SC_TS_ACCEPTED ||
        o == NULL || t->rfc2543 || (server && !is_rfc3261(o)))
        return;
    sc_str_t b = o->via->branch, h = server ? o->via->host : SC_STR_NULL;
    if (b.len > UINT16_MAX || h.len > UINT16_MAX || (t->key = malloc(b.len + h.len + 1)) == NULL)
        return;
    memcpy(t->key, b.s, b.len);
    if (h.len)
        memcpy(t->key + b.len, h.s, h.len);
    t->key_branch = (uint16_t)b.len;
    t->key_host = (uint16_t)h.len;
    t->key_port = o->via->port;
    sc_msg_free(t->req);
    t->req = NULL;
    free(t->raw);
    t->raw = NULL;
    free(t->out);               /* nothing is resent by the layer in Accepted */
    t->out = NULL;
    t->outlen = 0;
}

/* ICT, a 300-699: ACK it (§17.1.1.3), move to Completed with timer D. */
static void ict_complete(sc_txn_t *t, const sc_msg_t *resp)
{
    sc_msg_t *ack = sc_msg_ack_for(t->req, resp);
    int rc = ack ? keep(&t->ack, &t->acklen, ack) : -1;
    if (rc == 0)
        sc_sipm_message(SC_SIPM_TX, ack);
    sc_msg_free(ack);
    set_state(t, SC_TS_COMPLETED);
    sc_timer_disarm(&t->retx);
    sc_timer_arm(&t->end, t->reliable ? 0 : t64(t));
    if (rc == 0)
        transmit(t, t->ack, t->acklen);
}

int sc_txn_client_receive(sc_txn_layer_t *l, const sc_msg_t *resp)
{
    sc_txn_t *t = client_find(l, resp);
    if (t == NULL)
        return 0;
    unsigned s = resp->status;
    bool deliver = false;
    bool first = t->state == SC_TS_CALLING || t->state == SC_TS_TRYING ||
                 t->state == SC_TS_PROCEEDING || (t->state == SC_TS_ACCEPTED && s != t->status);
    if (first)
        sc_sipm_message(SC_SIPM_RX, resp);
    else
        sc_sipm_retransmission(SC_SIPM_RX);
    const sc_txn_conf_t *c = &l->conf;
    switch (t->state) {
    case SC_TS_CALLING: case SC_TS_TRYING: case SC_TS_PROCEEDING:
        deliver = true;
        if (s < 200) {
            if (t->kind == SC_TXN_ICT) {
                sc_timer_disarm(&t->retx);      /* no more A; B ends with Calling */
                sc_timer_disarm(&t->end);
            } else if (t->state == SC_TS_TRYING && t->retx.armed) {
                t->interval = c->t2_ms;         /* E now fires every T2 */
            }
            set_state(t, SC_TS_PROCEEDING);
        } else if (t->kind == SC_TXN_NICT) {
            set_state(t, SC_TS_COMPLETED);         /* timer K */
            sc_timer_disarm(&t->retx);
            sc_timer_arm(&t->end, t->reliable ? 0 : c->t4_ms);
        } else if (s < 300) {
            set_state(t, SC_TS_ACCEPTED);          /* timer M */
            sc_timer_disarm(&t->retx);
            sc_timer_arm(&t->end, t64(t));
        } else {
            ict_complete(t, resp);
        }
        break;
    case SC_TS_ACCEPTED:
        deliver = s >= 200 && s < 300;          /* every 2xx to the TU */
        break;
    case SC_TS_COMPLETED:
        if (t->kind == SC_TXN_ICT && s >= 300 && t->ack) {
            sc_sipm_retransmission(SC_SIPM_TX);
            transmit(t, t->ack, t->acklen);     /* the final again: ACK again */
        }
        break;
    default:
        break;
    }
    if (s > t->status || deliver)
        t->status = s;
    if (deliver) {
        sc_txn_ref(t);
        notify(t, SC_TXN_EV_RESPONSE, resp);
        sc_txn_unref(t);
    }
    return 1;
}

/* What a lost path fails: a connection's client transactions still
 * waiting for a final response, or those over UDP to an unreachable
 * address that have heard nothing yet. */
typedef struct {
    const sc_conn_t       *conn;
    const sc_listener_t   *via;
    const struct sockaddr *to;
} lost_t;

static bool waits_on(const sc_txn_t *t, const lost_t *w)
{
    if (t->kind != SC_TXN_ICT && t->kind != SC_TXN_NICT)
        return false;
    if (w->to)
        return t->flow.kind == SC_TP_UDP && (w->via == NULL || t->flow.listener == w->via) &&
               (t->state == SC_TS_CALLING || t->state == SC_TS_TRYING) &&
               sc_sockaddr_eq((const struct sockaddr *)&t->flow.peer.addr, w->to);
    return t->flow.conn == w->conn &&
           (t->state == SC_TS_CALLING || t->state == SC_TS_TRYING || t->state == SC_TS_PROCEEDING);
}

static unsigned fail_lost(sc_txn_layer_t *l, const lost_t *w)
{
    /* A walk over every transaction: paths fail rarely, and a per-path
     * list would cost every transaction a link.  The victims are
     * gathered first, since each TU callback may start or end other
     * transactions. */
    size_t n = 0, k = 0;
    unsigned failed = 0;
    for (sc_txn_t *t = l->all; t; t = t->next)
        n += waits_on(t, w);
    sc_txn_t **v = n ? malloc(n * sizeof(*v)) : NULL;
    for (sc_txn_t *t = l->all; v && t && k < n; t = t->next)
        if (waits_on(t, w)) {
            sc_txn_ref(t);
            v[k++] = t;
        }
    for (size_t i = 0; i < k; i++) {
        if (waits_on(v[i], w)) {
            fail(v[i], SC_TXN_EV_TRANSPORT_ERROR);
            failed++;
        }
        sc_txn_unref(v[i]);
    }
    free(v);
    return failed;
}

void sc_txn_conn_lost(sc_txn_layer_t *l, const sc_conn_t *c)
{
    fail_lost(l, &(lost_t){ .conn = c });
}

unsigned sc_txn_udp_unreachable(sc_txn_layer_t *l, const sc_listener_t *via,
                                const struct sockaddr *to)
{
    return fail_lost(l, &(lost_t){ .via = via, .to = to });
}

/* --- the layer and accessors -------------------------------------------- */

sc_txn_layer_t *sc_txn_layer_new(sc_clock_t *clock, const sc_txn_conf_t *conf,
                                 sc_txn_send_fn send, void *send_ctx)
{
    sc_txn_layer_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->clock = clock;
    l->conf = conf ? *conf : sc_txn_conf_default;
    l->send = send;
    l->send_ctx = send_ctx;
    l->nbuckets = 1024;
    l->buckets = calloc(l->nbuckets, sizeof(*l->buckets));
    l->done = sc_txn_done_new(clock);
    if (l->buckets == NULL || l->done == NULL) {
        sc_txn_done_free(l->done);
        free(l->buckets);
        free(l);
        return NULL;
    }
    return l;
}

void sc_txn_layer_set_conf(sc_txn_layer_t *l, const sc_txn_conf_t *conf)
{
    l->conf = *conf;
}

void sc_txn_layer_free(sc_txn_layer_t *l)
{
    if (l == NULL)
        return;
    while (l->all) {
        sc_txn_t *t = l->all;
        t->cb = NULL;
        t->state = SC_TS_TERMINATED;
        hash_remove(l, t);
        sc_timer_fini(&t->retx);        /* a holder may outlive the layer */
        sc_timer_fini(&t->end);
        sc_timer_fini(&t->trying);
        sc_txn_unref(t);
    }
    sc_txn_done_free(l->done);
    free(l->buckets);
    free(l);
}

unsigned sc_txn_busy(const sc_txn_layer_t *l)
{
    return l->busy;
}

unsigned sc_txn_count(const sc_txn_layer_t *l)
{
    return l->count + sc_txn_done_count(l->done);
}

unsigned sc_txn_count_compact(const sc_txn_layer_t *l)
{
    return sc_txn_done_count(l->done);
}

void sc_txn_walk(const sc_txn_layer_t *l, unsigned max, void (*fn)(const sc_txn_t *t, void *arg),
                 void *arg)
{
    for (const sc_txn_t *t = l->all; t && max; t = t->next, max--)
        fn(t, arg);
}

const sc_txn_conf_t *sc_txn_layer_conf(const sc_txn_layer_t *l) { return &l->conf; }
sc_clock_t *sc_txn_layer_clock(const sc_txn_layer_t *l) { return l->clock; }
int sc_txn_layer_send(sc_txn_layer_t *l, const sc_source_t *flow, const char *buf, size_t len)
{
    return l->send(l->send_ctx, flow, buf, len);
}

void sc_txn_set_tu(sc_txn_t *t, sc_txn_cb cb, void *arg)
{
    t->cb = cb;
    t->arg = arg;
}

sc_txn_kind_t sc_txn_kind(const sc_txn_t *t) { return t->kind; }
sc_txn_state_t sc_txn_state(const sc_txn_t *t) { return t->state; }
const sc_msg_t *sc_txn_request(const sc_txn_t *t) { return t->req; }
const sc_source_t *sc_txn_flow(const sc_txn_t *t) { return &t->flow; }
unsigned sc_txn_status(const sc_txn_t *t) { return t->status; }

const char *sc_txn_state_name(sc_txn_state_t s)
{
    static const char *const names[] = {
        "Calling", "Trying", "Proceeding", "Completed", "Confirmed", "Accepted", "Terminated",
    };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
