/* chain_impl.h — the chain's structures, shared by the files of core/app. */
#ifndef SC_CHAIN_IMPL_H
#define SC_CHAIN_IMPL_H

#include <event2/event.h>

#include "app.h"
#include "dialog.h"
#include "sc_list.h"
#include "sc_metrics.h"
#include "txn.h"

#define SC_MAX_METHOD_FILTER 16

struct sc_instance {
    sc_chain_t        *chain;
    const sc_module_t *mod;
    void              *dl;          /* dlopen handle, NULL when built in */
    char               name[64];    /* its link name (chain: name:), else the module's */
    bool               named;       /* name: was given */
    char               label[140];  /* for the log: "module" or "module[name]" */
    int                nmethods;    /* 0: every method */
    char               methods[SC_MAX_METHOD_FILTER][32];
    void              *data;
    struct event_base *base;
    bool               created;     /* create was called: destroy will be */
    int                ordinal;     /* which instance of its module in the chain (0: the first) */
    char               link[64];    /* its metrics' link label: its name, else its position */
    sc_metric_t       *handle_time; /* its handlers' own time (sc_metrics.h) */
    sc_metric_t       *metrics;     /* its views of its module's series (sc_metric_view) */
    struct admin_res  *admin;       /* its management resources (admin.c) */
    char               error[160];  /* sc_instance_error */
};

/* request.c: keeps why a call of inst failed at once (sc_instance_error):
 * an unavailable transport as drachtio-server words it, the rest as
 * it is. */
void sc_instance_set_error(sc_instance_t *inst, const char *why);

/* chain_build.c: the opening of link i's JSON object, {"link":N,"name":..,
 * "module":.. (with a comma before it past the first), shared by /status
 * and the management API so that both name a link alike. */
void sc_link_describe_head(const sc_chain_t *c, int i, FILE *f);

typedef struct res_hdr {
    char           *name, *value;
    struct res_hdr *next;
} res_hdr_t;

struct sc_res {
    sc_req_t  *req;
    res_hdr_t *hdrs;
    char      *ctype;
    char      *body;
    size_t     body_len;
    sc_sent_cb on_sent;     /* sc_res_on_sent */
    void      *sent_arg;
};

/* Ownership: a request holds a reference on its server transaction
 * (which owns the message) and owns its answer state; the chain's pending
 * list holds it until it is answered and no handler is on the stack (see
 * settle() in chain.c). */
struct sc_req {
    sc_chain_t   *chain;
    int           pos;          /* link holding it; -1 before the first */
    sc_txn_t     *txn;
    sc_msg_t     *msg;          /* the transaction's */
    sc_source_t   src;          /* where it came from */
    char          to_tag[65];
    bool          tagged;       /* an answer with to_tag went out (not 100) */
    bool          done;         /* a final answer went out */
    bool          cancelled;    /* a CANCEL arrived (§9.2): answered 487 */
    struct proxy *proxy;        /* sc_proxy_request took it over */
    sc_dialog_t  *dialog;       /* its answer creates or belongs to this dialog */
    bool          holds_dialog; /* a request in it: a reference until freed */
    /* who else took it over (a B2BUA): told of a CANCEL instead of the
     * core answering 487, and when the request goes away */
    void        (*on_cancel)(void *arg);
    void        (*on_gone)(void *arg);
    /* and when a final answer leaves (whoever sent it: a failure the core
     * or the dialog layer sent ends B), and when A PRACKed our reliable
     * provisional (RFC 3262 §3: a 2xx held for it may go) */
    void        (*on_answered)(void *arg, unsigned status);
    void        (*on_pracked)(void *arg);
    void         *taker;
    sc_cancel_cb  cancel_cb;    /* sc_req_on_cancel: a module answers the CANCEL's 487 */
    void         *cancel_arg;
    bool          initial_invite;   /* an INVITE outside a dialog: CDRs */
    bool          core_answered;    /* answered by the core; the module may still call */
    int           depth;        /* handler calls on the stack */
    char         *user;         /* who authenticated it (sc_req_set_user) */
    bool          trusted;      /* from a trusted peer (sc_req_set_trusted) */
    struct event *timer;
    struct sc_res res;
    sc_link_t     link;         /* on the chain's pending list */
};

typedef struct service {
    char                 *name;
    const void           *api;
    const sc_instance_t  *owner;
    struct service       *next;
} service_t;

typedef struct subscription {
    char                *event;
    sc_event_cb          cb;
    void                *arg;
    struct subscription *next;
} subscription_t;

typedef struct uac uac_t;

struct sc_chain {
    sc_stack_t         stack;
    sc_keep_t         *keep;        /* state kept across reloads (keep.c); NULL: none */
    sc_list_t          uacs;        /* sc_request()s awaiting a final response */
    sc_list_t          proxies;     /* proxied requests with branches open */
    unsigned           ndreqs;      /* requests of its dialogs in flight */
    sc_list_t          calls;       /* sc_uac_create's, until they let go */
    sc_list_t          dialogs;     /* created by its modules, until freed */
    service_t         *services;
    subscription_t    *subs, **subs_tail;
    sc_instance_t     *links;
    int                n;
    unsigned           default_status;
    bool               checking;    /* sipchain -t: built to be checked, never started */
    bool               take_require; /* a link judges Require (sc_instance_take_require) */
    struct event_base *base;
    sc_list_t          pending;     /* requests not yet freed */
    bool               started;     /* start hooks ran: stop hooks will */
    bool               ending;      /* stop: the core ends its dialogs (sc_chain_end_dialogs) */
    unsigned           request_timeout_s;
    unsigned           session_expires_s, min_se_s;    /* RFC 4028 */
};

/* chain.c: frees the request once answered and no handler holds it. */
void sc_req_settle(sc_req_t *req);
/* chain.c: sends a response built elsewhere (a proxied one) through the
 * request's transaction; a final one ends the request. */
int  sc_req_forward_response(sc_req_t *req, const sc_msg_t *resp);
/* proxy.c: an upstream CANCEL for a proxied request (§16.10). */
void sc_proxy_cancelled(struct proxy *p);
/* proxy.c: the request is going away; the proxy lets go of it. */
void sc_proxy_detach(struct proxy *p);
/* proxy.c: lets go of every proxy context at chain end. */
void sc_chain_drop_proxies(sc_chain_t *c);
/* Proxies still at work (not only waiting out transaction tails): what
 * the stop waits for. */
unsigned sc_chain_proxies_busy(const sc_chain_t *c);
/* request.c: the same for requests modules placed (sc_request). */
unsigned sc_chain_uacs_busy(const sc_chain_t *c);
/* proxy.c, uac.c: stop: CANCEL every INVITE branch / call still ringing. */
void sc_chain_cancel_proxies(sc_chain_t *c);
void sc_chain_cancel_calls(sc_chain_t *c);

/* request.c: where a URI with a numeric host sends to, and over what
 * (;transport=, sips).  -1 for a host name. */
int  sc_uri_target(const sc_uri_t *u, struct sockaddr_storage *to, socklen_t *len,
                   sc_tp_kind_t *kind);
/* request.c: forgets every outstanding request (no more callbacks). */
void sc_chain_drop_uacs(sc_chain_t *c);

/* chain.c: a request of a new server transaction, held by the chain
 * until answered (not yet run through it). */
sc_req_t *sc_req_new(sc_chain_t *c, sc_txn_t *txn, const sc_source_t *src);
/* chain_build.c: calls every subscriber of event now. */
/* cdr.c: emits a cdr:* event about m.  role: what the call is to us
 * when the caller knows it (the event's role field is set on cdr:start
 * only, as drachtio's).  cdr.c follows each call from its attempt to its
 * stop, by Call-ID: a stop for none it follows (an in-dialog request of
 * an unknown dialog, or with other tags) is not emitted. */
void sc_cdr_emit(const sc_chain_t *c, const char *event, const char *source, const char *role,
                 const char *reason, unsigned status, const sc_msg_t *m, const char *user);
/* cdr.c: the call b_call_id (empty: not built yet) is the B leg of the
 * B2BUA call a_call_id: both are recorded with A's Call-ID as their
 * correlation key, and roles b2bua-uac / b2bua-uas. */
void sc_cdr_leg(sc_str_t b_call_id, sc_str_t a_call_id);
/* uac.c: sc_uac_create for the B leg of the B2BUA call a_call_id (its
 * CDRs and A's share A's Call-ID: sc_cdr_leg). */
sc_uac_t *sc_uac_create_leg(sc_instance_t *inst, const sc_uac_opts_t *o, sc_uac_cb cb, void *arg,
                            sc_str_t a_call_id);

/* dialog.c: the answer to a request of the dialog's (or creating it)
 * is about to leave (adds Contact to a 2xx) / has left (2xx to INVITE:
 * retransmitted until the ACK). */
void sc_dialog_answering(sc_dialog_t *d, sc_req_t *req, sc_msg_t *resp);
void sc_dialog_answered(sc_dialog_t *d, sc_req_t *req, const sc_msg_t *resp, int sent);
/* dialog.c: RFC 4028 as the 2xx to our INVITE (or UPDATE) set it. */
void sc_dialog_session_from(sc_dialog_t *d, const sc_msg_t *resp);
/* dialog.c: the Session-Expires interval of m, 0 when it has none. */
unsigned sc_session_expires_of(const sc_msg_t *m);
/* dialog.c: RFC 6665: d is a subscription to event, which ends unless
 * the subscriber refreshes it within expires seconds (notifier side). */
void      sc_dialog_subscription(sc_dialog_t *d, sc_str_t event, unsigned expires);
/* dialog.c: RFC 3262.  Early: a dialog of reliable provisionals, not yet
 * a call (no CDR, dropped if the call fails).  The PRACK for a reliable
 * provisional we received; the RSeq of one we send (-1 while the last
 * is not PRACKed). */
void      sc_dialog_early(sc_dialog_t *d, bool early);
void      sc_dialog_confirm(sc_dialog_t *d, const sc_msg_t *resp);
sc_dlg_t *sc_dialog_dlg(sc_dialog_t *d);
int       sc_dialog_prack(sc_dialog_t *d, const sc_msg_t *prov);
int       sc_dialog_rseq(sc_dialog_t *d, sc_msg_t *resp);
/* dialog.c: a reliable provisional we sent with SDP still waits for its
 * PRACK (RFC 3262 §3: no 2xx to the INVITE before it comes). */
bool      sc_dialog_rel_sdp_pending(const sc_dialog_t *d);
/* uas.c: a 1xx to req asking Require: 100rel goes out reliably (an early
 * dialog, RSeq), or, when the caller does not support it, without. */
void      sc_uas_reliable(sc_req_t *req, sc_msg_t *resp);
/* dialog.c: forgets a dialog that never got going (no BYE, no CDR). */
void sc_dialog_drop(sc_dialog_t *d);
/* uas.c: the UAS dialog a 2xx to req will create (req->dialog), or NULL;
 * sc_uas_undo forgets it when the 2xx did not leave. */
sc_dialog_t *sc_uas_dialog(sc_req_t *req, sc_instance_t *inst);
void         sc_uas_undo(sc_req_t *req);
/* dialog.c: keeps the struct (not the dialog) alive past its end. */
void sc_dialog_hold(sc_dialog_t *d);
void sc_dialog_release(sc_dialog_t *d);
/* dialog.c: the ACK for the 2xx to our INVITE with that CSeq (sent
 * again for a retransmitted 2xx). */
int  sc_dialog_send_ack(sc_dialog_t *d, uint32_t cseq);
/* dialog.c: the module sends the ACK of the 2xx with that CSeq
 * (sc_uac_opts_t.own_ack); until it does, retransmissions of the 2xx get
 * none. */
void sc_dialog_owe_ack(sc_dialog_t *d, uint32_t cseq);
/* chain.c: answers req with these extras (not its sc_res_t's), through
 * the same hooks as sc_res_send.  0 or -1. */
int  sc_req_answer(sc_req_t *req, unsigned status, const char *reason, const char *const *lines,
                   const char *ctype, sc_str_t body);
/* uac.c: forgets every call placed (no more callbacks, but for a
 * B2BUA's still unanswered: 487, so that it and its module let go). */
void sc_chain_drop_calls(sc_chain_t *c);
void sc_uac_report_on_drop(sc_uac_t *u);
/* dialog.c: calls fn for each live dialog of c and the link that made
 * it; fn must not end dialogs. */
void sc_chain_walk_dialogs(sc_chain_t *c, void (*fn)(sc_dialog_t *d, const sc_instance_t *owner, void *arg),
                           void *arg);
/* dialog.c: frees every dialog left without callbacks (chain end). */
void sc_chain_drop_dialogs(sc_chain_t *c);
/* dialog.c: a dialog for a request or response of ours, made live. */
sc_dialog_t *sc_dialog_new(sc_chain_t *c, sc_instance_t *inst, sc_dlg_t *dlg);
/* dialog.c: the peer refused TCP (RFC 3261 §18.1.1's move for size):
 * every request in d goes over UDP from now on, the ACK included. */
void sc_dialog_udp_only(sc_dialog_t *d);
/* dialog.c: sends the request m (no Via yet) in d; cb gets the
 * responses, the final once. */
int  sc_dialog_send(sc_dialog_t *d, sc_msg_t *m, sc_response_cb cb, void *arg);
/* dialog.c: the local / remote SDP (copied; NULL keeps). */
void sc_dialog_set_sdp(sc_dialog_t *d, sc_str_t local, sc_str_t remote);
/* dialog.c: ends it at once, silently but for the CDR (BYE sent). */
void sc_dialog_end(sc_dialog_t *d, const char *reason);

/* request.c: the route (next hop: top Route, else Request-URI; §18.1.1
 * transport) of a request of size octets. -1 with err. */
int  sc_route_request(const sc_stack_t *st, const sc_msg_t *m, size_t size, sc_tp_route_t *route,
                      char *err, size_t errlen);
/* request.c: our Via with a fresh branch on top of m. 0 or -1. */
int  sc_push_via(sc_msg_t *m, const sc_tp_route_t *route);
/* request.c: a response as modules read it. */
struct sc_response {
    const sc_msg_t *msg;        /* NULL for a synthesized 408 / 503 / 487 */
    unsigned        status;
    const char     *reason;
};
/* request.c: a request outside a dialog, built from o (plus Contact
 * for INVITE/SUBSCRIBE and Route for proxy), routed, with our Via. */
typedef struct {
    const char        *method;
    const char        *uri;
    const char *const *headers;
    const char        *content_type;
    sc_str_t           body;
    const char        *proxy;
    /* RFC 3261 §18.1.1's move to TCP was refused: UDP whatever the size
     * (a UDP-only peer, as drachtio-server's stack retries) */
    bool               udp_only;
} sc_out_t;
sc_msg_t *sc_out_build(const sc_stack_t *st, const sc_out_t *o, sc_tp_route_t *route, char *err,
                       size_t errlen);
/* request.c: the same for one resolved target (NULL: o's next hop,
 * numeric). */
sc_msg_t *sc_out_build_for(const sc_stack_t *st, const sc_out_t *o, const sc_target_t *target,
                           sc_tp_route_t *route, char *err, size_t errlen);
/* request.c: first, sent over TCP for its size only, met a transport
 * error (refused, reset): o built again over UDP for the same target,
 * with first's Call-ID, From and CSeq (it never arrived).  Sets
 * o->udp_only. */
sc_msg_t *sc_out_again_over_udp(const sc_stack_t *st, sc_out_t *o, const sc_target_t *target,
                                const sc_msg_t *first, sc_tp_route_t *route, char *err,
                                size_t errlen);
/* request.c: whether o's next hop (proxy, else URI) is a host name,
 * parsed into *hop. */
bool      sc_out_needs_dns(const sc_out_t *o, sc_uri_t *hop);
/* request.c: a deep copy of o (to build again per target), and its end. */
int       sc_out_copy(sc_out_t *dst, const sc_out_t *o);
void      sc_out_copy_free(sc_out_t *o);
/* request.c: adds "Name: value" lines (NULL-terminated). 0 or -1. */
int sc_msg_add_lines(sc_msg_t *m, const char *const *lines);

/* loader.c: dlopen modules_path/NAME.so and check its ABI. */
const sc_module_t *sc_module_load(const char *modules_path, const char *name, void **dl,
                                  char *why, size_t whylen);

#endif
