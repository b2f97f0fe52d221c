/*
 * drachtio.h — the drachtio module's state, shared by its files.
 *
 * hub.c      the application listener and connections (authenticate,
 *            route, ping, idle timeout, outbound connections)
 * inbound.c  requests from the network to applications, and what they
 *            answer (sip responses, proxy); requests in their dialogs
 * outbound.c requests applications send (new, in a dialog, ACK, CANCEL)
 *            and the responses back to them
 * screen.c   spammers and OPTIONS pings, answered before any application
 * router.c   request_handlers: HTTP routing (json.c reads the answers)
 * drachtio.c the module: config, the chain link, CDR frames, the stop
 *
 * A hub (listener + connections) outlives a reload: the new instance
 * with the same listen address adopts it, so applications stay
 * connected and their calls keep going.  Ids (transaction, dialog) are
 * the hub's, in one table each.
 */
#ifndef DR_DRACHTIO_H
#define DR_DRACHTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sipchain.h>

#include "sipmsg.h"
#include "wire.h"

#define DR_VERSION "v0.9.3-sipchain"    /* srf parses ^v\d+\.\d+\.\d+ for its pings */
#define DR_MAX_VERBS 32

typedef struct dr_hub  dr_hub_t;
typedef struct dr_conn dr_conn_t;

/* A doubly linked list node; lists are the hub's. */
typedef struct dr_link {
    struct dr_link *prev, *next;
} dr_link_t;

/* An id table entry (transactions, calls, dialogs). */
typedef struct dr_entry {
    char             id[200];
    struct dr_entry *next;
    int              kind;      /* DR_TXN, DR_CALL, DR_DLG */
} dr_entry_t;
enum { DR_TXN, DR_CALL, DR_DLG };

#define DR_BUCKETS 4096

typedef struct {
    const char *listen;         /* "127.0.0.1:9022" */
    const char *secret;
    bool        reject_no_app;  /* no application: 503 (else sc_next) */
    unsigned    idle_timeout_s; /* 0: none */
    size_t      max_frame;
    const char *outbound;       /* "tcp://host:port" / "tls://...": connect out per request */
    struct ssl_ctx_st *srv_ctx; /* tls: the listener speaks TLS (the instance's) */
    struct ssl_ctx_st *cli_ctx; /* tls:// outbound (the instance's) */
} dr_conf_t;

struct dr_conn {
    dr_hub_t           *hub;
    struct bufferevent *bev;
    char                peer[80];
    bool                authed;
    bool                outbound;   /* we connected to it (srf.listen) */
    char                tags[256];
    char                verbs[DR_MAX_VERBS][24];
    int                 nverbs;
    struct event       *idle;
    struct dr_txn      *handover;   /* outbound: the request to give it */
    dr_link_t           link;
};

/* A network request an application holds (inbound.c). */
typedef struct dr_txn {
    dr_entry_t   e;             /* id: the transactionId */
    dr_hub_t    *hub;
    dr_conn_t   *conn;
    sc_req_t    *req;
    sc_res_t    *res;
    char        *sent;          /* the last answer as it left */
    size_t       sent_len;
    char         proxy_msgid[37];   /* a proxy command waiting for its done */
    bool         proxy_full;
    bool         in_dialog;
    char        *dialog_id;     /* in a dialog: its id, echoed with the answers */
    dr_link_t    link;
} dr_txn_t;

/* A request an application sent (outbound.c). */
typedef struct dr_call {
    dr_entry_t   e;             /* id: its transactionId */
    dr_hub_t    *hub;
    dr_conn_t   *conn;
    sc_uac_t    *uac;           /* an INVITE's, until its final response */
    char         msgid[37];     /* the app command awaiting "OK" */
    bool         acked;         /* the OK went back */
    char        *sent;          /* the request as sent */
    size_t       sent_len;
    char         dialog_id[200];
    bool         final;
    dr_link_t    link;
} dr_call_t;

/* A dialog an application runs. */
typedef struct dr_dlg {
    dr_entry_t   e;             /* id: the dialogId */
    dr_hub_t    *hub;
    dr_conn_t   *conn;          /* NULL once the app has gone: 481 */
    sc_dialog_t *d;
    bool         early;         /* made by a reliable 1xx, not yet answered 2xx */
    /* ended by the app's BYE (d NULL): that BYE as sent, kept a while for
     * srf's digest retry of it (by Call-ID, no dialogId) */
    char        *bye;
    size_t       bye_len;
    char         call_id[128];
    struct event *linger;
    dr_link_t    link;
} dr_dlg_t;

#define DR_MAX_USERS 16
struct dr_hub {
    char                  listen[80];
    /* the instances sharing it across reloads, oldest first; the newest
     * one's config applies (back to the one before when it goes first,
     * as when a reload is refused) */
    struct { sc_instance_t *inst; dr_conf_t conf; } users[DR_MAX_USERS];
    int                   nusers;
    dr_conf_t             conf;
    sc_instance_t        *inst;     /* the newest instance (requests of ours) */
    struct event_base    *base;
    struct evconnlistener *lev;
    dr_link_t             conns, txns, calls, dlgs;
    unsigned              rr;       /* round robin */
    dr_entry_t           *ids[DR_BUCKETS];
    bool                  stopping; /* SIGTERM: no new connections or requests */
    dr_hub_t             *next;
};

/* --- lists and ids (hub.c) --- */
void        dr_list_init(dr_link_t *l);
void        dr_list_add(dr_link_t *l, dr_link_t *n);
void        dr_list_del(dr_link_t *n);
#define DR_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
void        dr_id_add(dr_hub_t *h, dr_entry_t *e);
void        dr_id_del(dr_hub_t *h, dr_entry_t *e);
dr_entry_t *dr_id_find(dr_hub_t *h, const char *id, int kind);

/* --- hub.c --- */
/* inbound.c: answers t's request and forgets t; dialogs the apps ended
 * (kept for a BYE retry) forgotten now. */
void       dr_inbound_fail(struct dr_txn *t, unsigned status, const char *reason);
void       dr_dlg_drop_ended(dr_hub_t *h);
dr_hub_t  *dr_hub_get(sc_instance_t *inst, const dr_conf_t *conf, char *err, size_t errlen);
void       dr_hub_put(dr_hub_t *h, sc_instance_t *inst);
/* An authenticated connection that routed verb (lower case) and, when
 * tag is not NULL, authenticated with that tag; round robin; NULL when
 * none. */
dr_conn_t *dr_hub_pick(dr_hub_t *h, const char *verb, const char *tag);
bool       dr_conn_routes(const dr_conn_t *c, const char *verb);
/* Whether a connected application routed verb (any tags). */
bool       dr_hub_routed(const dr_hub_t *h, const char *verb);
/* Frames to an application; nothing when c is NULL or closing. */
void       dr_send(dr_conn_t *c, const char *leader, sc_str_t sip);
void       dr_reply(dr_conn_t *c, const char *msgid, const char *rest, sc_str_t sip);
/* Connects out (url: tcp://host:port, tls://host:port) to hand t over
 * once it authenticates: 0, or -1 (t untouched). */
int        dr_connect_out(dr_hub_t *h, dr_txn_t *t, const char *url);
/* The server stops (SIGTERM): the listener closed, what applications hold
 * without having answered anything answered 503 now (dr_inbound_stop). */
void       dr_hub_stop(dr_hub_t *h);
/* "<source>|<bytes>|<proto>|<addr>|<port>|<time>" into out. */
void       dr_meta(char *out, size_t cap, const char *source, size_t bytes, const char *proto,
                   const char *addr, unsigned port);

/* --- inbound.c --- */
/* A request for the application c (in_dialog: its dialog's id). */
void dr_inbound(dr_hub_t *h, dr_conn_t *c, sc_req_t *req, sc_res_t *res, const char *dialog_id);
void dr_inbound_deliver(dr_txn_t *t);       /* outbound mode, after authenticate */
/* Connect out to url (tcp:// or tls://) and hand the request over there
 * (outbound mode; a request handler's route); 480 when that fails. */
void dr_inbound_connect(dr_hub_t *h, sc_req_t *req, sc_res_t *res, const char *url);
/* At stop: requests applications hold with no answer yet (not a call
 * that rings, not a proxy) get 503. */
void dr_inbound_stop(dr_hub_t *h);
/* The hub's last instance goes (the server stops): the core has answered
 * and freed every request still held (503), so they are forgotten
 * without a word to them. */
void dr_inbound_forget(dr_hub_t *h);
/* App commands: sip|<txn>| with a response; proxy|<txn>|... */
void dr_app_response(dr_conn_t *c, const char *msgid, dr_txn_t *t, const dr_msg_t *m);
void dr_app_proxy(dr_conn_t *c, const char *msgid, char **tok, int n, sc_str_t sip);
/* The application c went away: its requests answered 503, its dialogs
 * orphaned (481 from now on). */
void dr_inbound_conn_gone(dr_hub_t *h, dr_conn_t *c);
/* A dialog the app runs (made by a 2xx either way). */
dr_dlg_t *dr_dlg_new(dr_hub_t *h, dr_conn_t *c, sc_dialog_t *d);

/* --- outbound.c --- */
/* sip|<txn>|<dialog>[|<route>] with a request (sip as sent, m parsed). */
void dr_app_request(dr_conn_t *c, const char *msgid, char **tok, int n, sc_str_t sip,
                    const dr_msg_t *m);
void dr_outbound_conn_gone(dr_hub_t *h, dr_conn_t *c);

/* A SIP message as text: the local hostport of the hub's first
 * listener (for "localhost"). */
void dr_local(dr_hub_t *h, char *out, size_t cap);

#endif
