/*
 * txn.h — SIP transactions (RFC 3261 §17, with RFC 6026 and RFC 4320).
 *
 * The four state machines — INVITE client (ICT), non-INVITE client
 * (NICT), INVITE server (IST), non-INVITE server (NIST) — in one layer
 * that matches incoming messages to them (§17.1.3, §17.2.3, with the RFC
 * 2543 fallback for branches without the magic cookie), absorbs
 * retransmissions, retransmits on unreliable transports and runs timers
 * A–M on an sc_clock_t (so tests drive every transition by hand).
 *
 * RFC 6026: a 2xx moves an INVITE transaction to Accepted, not
 * Terminated: the server absorbs retransmitted INVITEs and hands ACKs to
 * the TU until timer L; the client hands every further 2xx (forks,
 * retransmissions) to the TU until timer M.
 * RFC 4320: a non-INVITE server never sends 408, never a provisional
 * other than 100, and over UDP sends its 100 only once the client's
 * timer E has reached T2 (then it does, to stop the retransmissions).
 *
 * Ownership: the layer holds each transaction until it terminates; a TU
 * that keeps a pointer beyond the callback takes a reference
 * (sc_txn_ref/unref).  A transaction owns the request it was created
 * with and the bytes it retransmits.
 */
#ifndef SC_TXN_H
#define SC_TXN_H

#include "sc_timer.h"
#include "transport.h"

typedef struct sc_txn sc_txn_t;
typedef struct sc_txn_layer sc_txn_layer_t;

typedef enum { SC_TXN_IST, SC_TXN_NIST, SC_TXN_ICT, SC_TXN_NICT } sc_txn_kind_t;

typedef enum {
    SC_TS_CALLING,      /* ICT */
    SC_TS_TRYING,       /* NICT, NIST */
    SC_TS_PROCEEDING,
    SC_TS_COMPLETED,
    SC_TS_CONFIRMED,    /* IST */
    SC_TS_ACCEPTED,     /* ICT, IST (RFC 6026) */
    SC_TS_TERMINATED,
} sc_txn_state_t;

typedef struct {
    unsigned t1_ms;     /* RTT estimate, default 500 */
    unsigned t2_ms;     /* retransmit cap for non-INVITE, default 4000 */
    unsigned t4_ms;     /* max time a message stays in the network, 5000 */
    unsigned max_txns;  /* unanswered (sc_txn_busy); new requests beyond
                           get 503.  One that only waits out its timers
                           (Completed, Accepted, the store of txn_done.h)
                           is not counted */
} sc_txn_conf_t;

extern const sc_txn_conf_t sc_txn_conf_default;

/* How the layer's messages leave: the transport, or a test's recorder.
 * -1 is a transport error (§17.1.4, §17.2.4). */
typedef int (*sc_txn_send_fn)(void *ctx, const sc_source_t *flow, const char *buf, size_t len);

typedef enum {
    SC_TXN_EV_RESPONSE,         /* client: a response for the TU (msg) */
    SC_TXN_EV_TIMEOUT,          /* client: timer B or F; server: H (no ACK) */
    SC_TXN_EV_TRANSPORT_ERROR,
    SC_TXN_EV_CANCELLED,        /* server INVITE: a CANCEL arrived for it */
    SC_TXN_EV_TERMINATED,       /* last event; the layer lets go */
} sc_txn_ev_t;

typedef void (*sc_txn_cb)(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg);

sc_txn_layer_t *sc_txn_layer_new(sc_clock_t *clock, const sc_txn_conf_t *conf,
                                 sc_txn_send_fn send, void *send_ctx);
/* Frees every transaction left, without callbacks (process end). */
void            sc_txn_layer_free(sc_txn_layer_t *l);
void            sc_txn_layer_set_conf(sc_txn_layer_t *l, const sc_txn_conf_t *conf);
/* The timers in force, and the clock they run on (dialogs use both). */
const sc_txn_conf_t *sc_txn_layer_conf(const sc_txn_layer_t *l);
sc_clock_t          *sc_txn_layer_clock(const sc_txn_layer_t *l);
/* Sends outside any transaction (a 2xx retransmitted by its UAS core,
 * the ACK of a 2xx) the way transactions send: traced, same transport. */
int                  sc_txn_layer_send(sc_txn_layer_t *l, const sc_source_t *flow, const char *buf,
                                       size_t len);
/* Transactions not yet terminated (compact completed ones included). */
unsigned        sc_txn_count(const sc_txn_layer_t *l);
/* Of those, the ones with no final answer yet: what max_transactions
 * bounds (new requests only; CANCEL and in-dialog requests up to twice
 * that). */
unsigned        sc_txn_busy(const sc_txn_layer_t *l);
/* Of those, the completed non-INVITEs kept compact (txn_done.h). */
unsigned        sc_txn_count_compact(const sc_txn_layer_t *l);
/* Calls fn for each live transaction (not the compact ones), newest
 * first, up to max of them: the management API's listing.  fn must not
 * create or end transactions. */
void            sc_txn_walk(const sc_txn_layer_t *l, unsigned max,
                            void (*fn)(const sc_txn_t *t, void *arg), void *arg);

/* --- server side ------------------------------------------------------ */
typedef enum {
    SC_RX_NEW,          /* a new server transaction: *out, owns raw and msg */
    SC_RX_ABSORBED,     /* a retransmission or the ACK of a non-2xx: done */
    SC_RX_ACK,          /* an ACK for the TU (2xx ACK); *out the IST in
                           Accepted it matched, or NULL */
    SC_RX_OVERLOAD,     /* a new request over max_txns: answer 503 */
} sc_rx_t;

/* A request received on flow.  flow is the path responses take: its peer
 * is already the §18.2.2 response address (sc_flow_for_response).  Unless
 * the answer is SC_RX_NEW the caller keeps raw and msg. */
sc_rx_t sc_txn_server_receive(sc_txn_layer_t *l, const sc_source_t *flow, char *raw,
                              sc_msg_t *msg, sc_txn_t **out);
/* Sends a response (copied) through a server transaction and moves it
 * along.  -1 when the state does not allow it (a final answer already
 * went out, a provisional other than 100 to a non-INVITE) or the
 * transport failed (the TU is told). */
int     sc_txn_respond(sc_txn_t *t, const sc_msg_t *resp);
/* §9.2: the INVITE server transaction a CANCEL is for, or NULL. */
sc_txn_t *sc_txn_find_cancelled(sc_txn_layer_t *l, const sc_msg_t *cancel);
/* §9.2: tells the TU of an INVITE still unanswered that it was
 * cancelled (SC_TXN_EV_CANCELLED with the CANCEL; the TU answers 487).
 * false when there was nothing to tell: no TU, or a final answer already
 * sent. */
bool      sc_txn_cancel(sc_txn_t *ist, const sc_msg_t *cancel);

/* --- client side ------------------------------------------------------ */
/* Sends req (whose top Via carries a fresh branch) along flow and runs
 * its client transaction; takes req.  NULL when the first send fails
 * (the caller tries the next target) or out of memory: req freed. */
sc_txn_t *sc_txn_client_new(sc_txn_layer_t *l, sc_msg_t *req, const sc_source_t *flow,
                            sc_txn_cb cb, void *arg);
/* A response received: 1 when it matched a client transaction (which
 * took it in hand), 0 when it matched none. */
int       sc_txn_client_receive(sc_txn_layer_t *l, const sc_msg_t *resp);

/* §17.1.4: a connection failed; every client transaction still waiting
 * for a final response over it ends with SC_TXN_EV_TRANSPORT_ERROR. */
void      sc_txn_conn_lost(sc_txn_layer_t *l, const sc_conn_t *c);
/* The same for UDP: a datagram from listener via (NULL: any) to the
 * address to drew an ICMP unreachable (sc_tp_set_on_unreachable): every
 * client transaction over UDP to that address that has heard nothing
 * yet (Calling, Trying) ends with SC_TXN_EV_TRANSPORT_ERROR, so the TU
 * fails over now (RFC 3263 §4.3) instead of at timer B or F.  Server
 * transactions are left alone (their peer's retransmissions decide).
 * Returns how many ended. */
unsigned  sc_txn_udp_unreachable(sc_txn_layer_t *l, const sc_listener_t *via,
                                 const struct sockaddr *to);

/* An INVITE transaction in Accepted (RFC 6026) whose TU needs its
 * request no more (a proxy that relayed the 2xx): the layer keeps only
 * what matching retransmissions, ACKs and further 2xx needs, for the 32 s
 * of timers L and M — the request and its parse pool are most of what a
 * call costs.  sc_txn_request gives NULL afterwards.  A no-op in any
 * other state, and for RFC 2543 requests (matched on the whole request). */
void      sc_txn_forget_request(sc_txn_t *t);
/* A transaction with no final answer that will never have one: a server
 * transaction whose answer cannot be built (a request whose headers no
 * answer may repeat), a client INVITE transaction still in Proceeding
 * 64*T1 after our CANCEL (RFC 3261 §9.1: no timer of its own would ever
 * end it).  It ends now, rather than hold its slot for good. */
void      sc_txn_abandon(sc_txn_t *t);

/* --- any transaction -------------------------------------------------- */
void              sc_txn_set_tu(sc_txn_t *t, sc_txn_cb cb, void *arg);
void              sc_txn_ref(sc_txn_t *t);
void              sc_txn_unref(sc_txn_t *t);
sc_txn_kind_t     sc_txn_kind(const sc_txn_t *t);
sc_txn_state_t    sc_txn_state(const sc_txn_t *t);
const sc_msg_t   *sc_txn_request(const sc_txn_t *t);     /* NULL once forgotten */
const sc_source_t *sc_txn_flow(const sc_txn_t *t);
/* Server: the last status sent; client: the last received (0: none). */
unsigned          sc_txn_status(const sc_txn_t *t);
const char       *sc_txn_state_name(sc_txn_state_t s);

#endif
