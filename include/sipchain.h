/*
 * sipchain.h — the one public header: what a module may use.
 *
 * This is the module ABI.  Anything added here is a promise; bump
 * SC_ABI_VERSION whenever a struct a module can see changes layout or a
 * function changes meaning, so that a module built against an older header
 * is refused at load instead of misbehaving.  Types a module does not need
 * to look inside are opaque and read through functions.
 *
 * A module is a shared object exporting one symbol:
 *
 *     const sc_module_t sc_module = {
 *         SC_MODULE_HEADER, .name = "hello", .version = "1.0",
 *         .handle = hello_handle,
 *     };
 *
 * and its handler ends every request it receives exactly once: an answer
 * (sc_res_send), sc_next (pass it on), or sc_fail (to the error
 * middleware) — now, or later from a timer or I/O callback.
 *
 * Lifetime: after the final answer the request and its response are gone
 * as soon as no handler is running; a module must not touch them after
 * ending them from a timer.  A request nobody answers within 32 s gets 500
 * from the core and is freed at the module's late call.  At stop, requests
 * still waiting get 503 and are freed before the stop and destroy hooks
 * run: a module releases its own timers and state there.
 */
#ifndef SIPCHAIN_H
#define SIPCHAIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SC_ABI_VERSION 1

#define SC_STRINGIFY_(x) #x
#define SC_STRINGIFY(x)  SC_STRINGIFY_(x)
/* What else must match between sipchain and a module: pointer and size_t
 * width and the ABI version, as one string compared at load. */
#define SC_MODULE_SIGNATURE                                                     \
    "sipchain-abi/" SC_STRINGIFY(SC_ABI_VERSION) " ptr" SC_STRINGIFY(__SIZEOF_POINTER__) \
    " size" SC_STRINGIFY(__SIZEOF_SIZE_T__)

/* A view into bytes owned by someone else (usually a message's receive
 * buffer).  Never NUL-terminated: SIP bodies and escaped URIs carry NULs. */
typedef struct {
    const char *s;
    size_t      len;
} sc_str_t;

typedef struct sc_instance  sc_instance_t;   /* one link of the chain */
typedef struct sc_req       sc_req_t;        /* a request travelling it */
typedef struct sc_res       sc_res_t;        /* the answer to that request */
typedef struct sc_conf_node sc_conf_node_t;  /* a node of the YAML config */

/* What sc_fail carries to the error middleware. */
typedef struct {
    unsigned    status;     /* the answer if nobody handles it (500 ...) */
    const char *reason;     /* why, for the reason phrase and the log */
} sc_error_t;

typedef struct sc_module {
    uint32_t    abi_version;    /* SC_ABI_VERSION, via SC_MODULE_HEADER */
    const char *signature;      /* SC_MODULE_SIGNATURE */
    const char *name;
    const char *version;
    /* Config load: validate this instance's keys (unknown key = error
     * naming file:line:col, see sc_conf_*), build its state.  0 or -1
     * with the message in err. */
    int  (*create)(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen);
    /* Every instance created: find other modules' services. 0 or -1. */
    int  (*start)(sc_instance_t *inst);
    /* A request reached this link (its methods filter matched). */
    void (*handle)(sc_instance_t *inst, sc_req_t *req, sc_res_t *res);
    /* An earlier link failed (drachtio-srf's 4-argument middleware). */
    void (*handle_error)(sc_instance_t *inst, const sc_error_t *err, sc_req_t *req,
                         sc_res_t *res);
    void (*stop)(sc_instance_t *inst);
    void (*destroy)(sc_instance_t *inst);
} sc_module_t;

#define SC_MODULE_HEADER .abi_version = SC_ABI_VERSION, .signature = SC_MODULE_SIGNATURE

/* --- instances ------------------------------------------------------- */
void        sc_instance_set_data(sc_instance_t *inst, void *data);
void       *sc_instance_data(const sc_instance_t *inst);
const char *sc_instance_name(const sc_instance_t *inst);
/* The event loop (libevent) this instance runs on, for timers and I/O. */
struct event_base *sc_instance_base(const sc_instance_t *inst);
void        sc_instance_log(const sc_instance_t *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum { SC_LOG_LEVEL_ERROR, SC_LOG_LEVEL_WARN, SC_LOG_LEVEL_INFO, SC_LOG_LEVEL_DEBUG };

/* --- services and events ----------------------------------------------
 * Modules reach each other through named services (an API struct one
 * publishes and others find, e.g. the registrar's "location") and named
 * events ("cdr:stop" ...), never by linking to each other.  Both belong to
 * one chain: after a reload the new chain has its own. */
/* In create: -1 when another instance published that name already. */
int         sc_service_publish(sc_instance_t *inst, const char *name, const void *api);
/* In start or later: the API, or NULL when nobody published it. */
const void *sc_service_find(const sc_instance_t *inst, const char *name);
typedef void (*sc_event_cb)(const char *event, const void *data, void *arg);
int         sc_event_subscribe(sc_instance_t *inst, const char *event, sc_event_cb cb, void *arg);
/* Calls every subscriber of event, in subscription order, now. */
void        sc_event_emit(const sc_instance_t *inst, const char *event, const void *data);

/* --- configuration (inside create) ----------------------------------- */
sc_conf_node_t *sc_conf_get(const sc_conf_node_t *map, const char *key);
/* Every key of an instance's node is one of keys (NULL-terminated) or a
 * key the core reads itself (module, methods). */
int  sc_conf_check_keys(const sc_conf_node_t *node, const char *const *keys, char *err,
                        size_t errlen);
int  sc_conf_string(const sc_conf_node_t *n, const char **out, char *err, size_t errlen);
int  sc_conf_uint(const sc_conf_node_t *n, unsigned long max, unsigned long *out, char *err,
                  size_t errlen);
int  sc_conf_bool(const sc_conf_node_t *n, bool *out, char *err, size_t errlen);
/* A sequence's first item / a node's next sibling, NULL at the end. */
const sc_conf_node_t *sc_conf_first(const sc_conf_node_t *seq);
const sc_conf_node_t *sc_conf_next(const sc_conf_node_t *n);
/* Writes "file:line:col: message" about node at into err; returns -1. */
int  sc_conf_error(char *err, size_t errlen, const sc_conf_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- requests -------------------------------------------------------- */
sc_str_t sc_req_method(const sc_req_t *req);
sc_str_t sc_req_uri(const sc_req_t *req);
/* The first value of a header (any name form), empty when absent. */
sc_str_t sc_req_header(const sc_req_t *req, const char *name);
sc_str_t sc_req_body(const sc_req_t *req);
/* Where it came from: "udp", "tcp" or "tls", numeric address and port. */
const char *sc_req_transport(const sc_req_t *req);
const char *sc_req_source_ip(const sc_req_t *req);
uint16_t    sc_req_source_port(const sc_req_t *req);

/* --- answering and passing on ---------------------------------------- */
/* Headers and body to send with the answer (copied). 0 or -1. */
int  sc_res_add_header(sc_res_t *res, const char *name, const char *value);
int  sc_res_set_body(sc_res_t *res, const char *content_type, sc_str_t body);
/* Sends the answer; a final one ends the request.  reason may be NULL. A
 * second final answer is logged and ignored.  0, or -1 if not sent. */
int  sc_res_send(sc_res_t *res, unsigned status, const char *reason);
/* Passes the request to the next link whose methods filter matches; past
 * the last, the core's end-of-chain answer (404 by default). */
void sc_next(sc_req_t *req);
/* Hands the request to the next link with an error handler; with none,
 * the request is answered err->status (500 when 0). */
void sc_fail(sc_req_t *req, unsigned status, const char *reason);

/* --- proxying (RFC 3261 §16, drachtio's proxyRequest) ----------------
 * Takes the request over (it ends it, as an answer would): forwards it
 * statefully to each target — all at once (parallel) or one after the
 * other while they fail (sequential) — with Max-Forwards decremented, our
 * Via, Record-Route when asked, and relays the responses back: every
 * provisional but 100, every 2xx, else the best final one (§16.7: a 6xx
 * ends the search; otherwise the lowest class, 401/407 challenges merged).
 * A CANCEL from upstream is passed to every branch (§16.10); a 2xx or 6xx
 * cancels the branches still ringing.  Targets must have numeric hosts
 * until DNS arrives.  0, or -1 (nothing sent: answer it yourself). */
typedef struct {
    const char *const *targets;         /* URIs, NULL-terminated; NULL: the Request-URI */
    bool               parallel;        /* fork at once; else sequentially */
    bool               record_route;
    unsigned           provisional_timeout_s;  /* sequential: next target if no 1xx (0: none) */
    unsigned           final_timeout_s; /* cancel what rings past this (timer C; 0: 180 s) */
} sc_proxy_opts_t;
int sc_proxy_request(sc_req_t *req, const sc_proxy_opts_t *o);

/* --- requests of our own, outside a dialog (drachtio-srf's request) ---
 * The core builds the request (Via with a fresh branch, Max-Forwards,
 * From with a tag, To, Call-ID, CSeq, Content-Length), chooses the
 * transport (RFC 3261 §18.1.1: UDP, or TCP when it is too big for UDP;
 * the peer's own connection when it has one open to us), runs the
 * client transaction (retransmissions, timers E/F) and calls back with
 * every response: provisional ones, then exactly one final one.  A
 * timeout arrives as 408 and a transport failure as 503, both without
 * headers.  Outstanding requests keep the chain that sent them alive
 * across a reload; at stop their callbacks are not called. */
typedef struct sc_response sc_response_t;
unsigned sc_response_status(const sc_response_t *r);
sc_str_t sc_response_reason(const sc_response_t *r);
/* The first value of a header (any name form), empty when absent. */
sc_str_t sc_response_header(const sc_response_t *r, const char *name);
sc_str_t sc_response_body(const sc_response_t *r);
typedef void (*sc_response_cb)(const sc_response_t *res, void *arg);

typedef struct {
    const char        *method;      /* OPTIONS, MESSAGE, NOTIFY, ... (not INVITE yet) */
    const char        *uri;         /* Request-URI, and where it goes: a numeric
                                       host, ;transport=tcp|udp|tls honoured */
    const char *const *headers;     /* "Name: value", NULL-terminated; may be NULL.
                                       From, To, Call-ID, CSeq given here win */
    const char        *content_type;
    sc_str_t           body;
} sc_request_opts_t;

/* 0 when sent (cb will be called), -1 with a log line when it cannot be
 * (bad URI, a host name — DNS is not there yet —, no transport). */
int sc_request(sc_instance_t *inst, const sc_request_opts_t *o, sc_response_cb cb, void *arg);

#endif
