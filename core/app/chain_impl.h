/* chain_impl.h — the chain's structures, shared by the files of core/app. */
#ifndef SC_CHAIN_IMPL_H
#define SC_CHAIN_IMPL_H

#include <event2/event.h>

#include "app.h"
#include "txn.h"

#define SC_MAX_METHOD_FILTER 16

struct sc_instance {
    sc_chain_t        *chain;
    const sc_module_t *mod;
    void              *dl;          /* dlopen handle, NULL when built in */
    char               name[64];
    int                nmethods;    /* 0: every method */
    char               methods[SC_MAX_METHOD_FILTER][32];
    void              *data;
    struct event_base *base;
    bool               created;     /* create was called: destroy will be */
};

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
    char          to_tag[17];
    bool          done;         /* a final answer went out */
    bool          cancelled;    /* a CANCEL arrived (§9.2): answered 487 */
    struct proxy *proxy;        /* sc_proxy_request took it over */
    bool          core_answered;    /* answered by the core; the module may still call */
    int           depth;        /* handler calls on the stack */
    struct event *timer;
    struct sc_res res;
    sc_req_t     *prev, *next;
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
    uac_t             *uacs;        /* sc_request()s awaiting a final response */
    unsigned           nuacs;
    struct proxy      *proxies;     /* proxied requests with branches open */
    unsigned           nproxies;
    service_t         *services;
    subscription_t    *subs, **subs_tail;
    sc_instance_t     *links;
    int                n;
    unsigned           default_status;
    struct event_base *base;
    sc_req_t          *pending;
    unsigned           npending;
    bool               started;     /* start hooks ran: stop hooks will */
    unsigned           request_timeout_s;
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

/* request.c: where a URI with a numeric host sends to, and over what
 * (;transport=, sips).  -1 for a host name. */
int  sc_uri_target(const sc_uri_t *u, struct sockaddr_storage *to, socklen_t *len,
                   sc_tp_kind_t *kind);
/* request.c: forgets every outstanding request (no more callbacks). */
void sc_chain_drop_uacs(sc_chain_t *c);

/* loader.c: dlopen modules_path/NAME.so and check its ABI. */
const sc_module_t *sc_module_load(const char *modules_path, const char *name, void **dl,
                                  char *why, size_t whylen);

#endif
