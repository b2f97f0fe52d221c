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

#define SC_ABI_VERSION 7

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
/* The link's name (chain: name:), or its module's name when it has none. */
const char *sc_instance_name(const sc_instance_t *inst);
/* The event loop (libevent) this instance runs on, for timers and I/O. */
struct event_base *sc_instance_base(const sc_instance_t *inst);
/* True while the configuration is only checked (sipchain -t): create must
 * validate its keys and return without side effects (no file created or
 * written, no thread, no socket); start is never called then. */
bool        sc_instance_checking(const sc_instance_t *inst);
/* The instance's requests are judged by what it runs (an application that
 * answers 420 itself if it must): call in create, and the core no longer
 * refuses with 420 the requests whose Require names an option tag it does
 * not implement (e.g. "siprec"), in this chain.  drachtio-server's
 * transaction layer never checks Require. */
void        sc_instance_take_require(sc_instance_t *inst);
/* Whether path could be opened for appending, creating nothing: 0 when it
 * exists and is writable, or does not and its directory is; else -1 with
 * the reason in why (for create's checks under sc_instance_checking). */
int         sc_check_writable(const char *path, char *why, size_t whylen);

/* --- state that outlives a reload ------------------------------------
 * A SIGHUP builds new instances beside the running ones; state that must
 * not be lost with them (a registrar's bindings, digest nonces) is asked
 * for by key: the instance that takes the same link in the new chain
 * (the same module, the same n-th instance of it) asking for the same
 * key gets the very object the running instance has, and both share it
 * while requests finish on the old chain.  The first ask makes it
 * (make(arg); NULL: the ask fails, NULL).  Every instance that got it
 * lets it go in its destroy with sc_kept_release (the same key, the
 * object and its drop); the last to let go, with no newer instance
 * holding it, frees it with drop (and is told so: true).  Without a running server (sipchain
 * -t) the object is simply made and dropped.  Put what the object
 * depends on in the key (a file's path, a secret) so that a changed
 * configuration gets a new one. */
void *sc_kept(sc_instance_t *inst, const char *key, void *(*make)(void *arg),
              void (*drop)(void *obj), void *arg);
bool  sc_kept_release(sc_instance_t *inst, const char *key, void *obj, void (*drop)(void *obj));
/* Where the server listens for SIP, as "udp/127.0.0.1:5060,tcp/[::1]:5060"
 * (start or later).  The length written (0: none known). */
size_t      sc_instance_listeners(const sc_instance_t *inst, char *out, size_t cap);
/* TLS contexts (OpenSSL's SSL_CTX; SSL_CTX_free them) for connections a
 * module opens itself, with the core's policy (TLS 1.2 at least).  A
 * server: PEM certificate chain and key, client certificates checked
 * against ca when given (required with verify_client).  A client: the
 * peer's certificate checked against ca (NULL: the system's CAs) when
 * verify.  NULL with the reason in err. */
struct ssl_ctx_st *sc_tls_server_ctx(const char *cert, const char *key, const char *ca,
                                     bool verify_client, char *err, size_t errlen);
struct ssl_ctx_st *sc_tls_client_ctx(const char *ca, bool verify, char *err, size_t errlen);
void        sc_instance_log(const sc_instance_t *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum { SC_LOG_LEVEL_ERROR, SC_LOG_LEVEL_WARN, SC_LOG_LEVEL_INFO, SC_LOG_LEVEL_DEBUG };

/* --- services and events ----------------------------------------------
 * Modules reach each other through named services (an API struct one
 * publishes and others find, e.g. the registrar's "location") and named
 * events ("cdr:stop" ...), never by linking to each other.  Both belong to
 * one chain: after a reload the new chain has its own.  The core emits
 * "server:reopen" (data NULL) on SIGUSR1: reopen your files (logrotate);
 * and SC_EVENT_STOPPING (data NULL) on every chain as a SIGTERM/SIGINT
 * begins the stop, before requests in flight are waited for: refuse new
 * work, and answer now what need not be waited for. */
#define SC_EVENT_STOPPING "server:stopping"
/* SC_EVENT_MALFORMED: a message that did not parse arrived (garbage, a
 * request too broken to reach the chain); data is its source, a
 * const struct sockaddr * (AF_INET or AF_INET6).  Emitted on the
 * current chain for every such message: a subscriber must be cheap (the
 * guard counts it against the source's rate). */
#define SC_EVENT_MALFORMED "server:malformed"
/* In create: -1 when another instance published that name already. */
int         sc_service_publish(sc_instance_t *inst, const char *name, const void *api);
/* In start or later: the API, or NULL when nobody published it. */
const void *sc_service_find(const sc_instance_t *inst, const char *name);
typedef void (*sc_event_cb)(const char *event, const void *data, void *arg);
int         sc_event_subscribe(sc_instance_t *inst, const char *event, sc_event_cb cb, void *arg);
/* Calls every subscriber of event, in subscription order, now. */
void        sc_event_emit(const sc_instance_t *inst, const char *event, const void *data);

/* --- sources refused in the kernel -------------------------------------
 * The server keeps a set of refused source addresses (not a chain's: a
 * reload keeps it) and has the kernel drop every UDP datagram from them
 * before it is read (a socket filter on each UDP listener), so that a
 * flood from a blocked source costs the process nothing.  The address
 * of addr counts, not its port; seconds is when it ends by itself (0:
 * until allowed).  At most 64 addresses of each family are dropped in
 * the kernel: sc_source_refuse returns 1 when addr is, 0 when the set is
 * full (refuse it in the module as before), -1 when addr is no IPv4 or
 * IPv6 address.  sc_source_allow: 0, or -1 when addr was not refused.
 * The kernel filter is re-attached at most every 100 ms: a datagram or
 * two may still arrive just after a refusal. */
struct sockaddr;
int sc_source_refuse(sc_instance_t *inst, const struct sockaddr *addr, unsigned seconds);
int sc_source_allow(sc_instance_t *inst, const struct sockaddr *addr);
/* The same for an IPv6 network: addr's first bits (1-127; 0: the whole
 * address; an IPv4 address is always itself). */
int sc_source_refuse_net(sc_instance_t *inst, const struct sockaddr *addr, unsigned bits,
                         unsigned seconds);
int sc_source_allow_net(sc_instance_t *inst, const struct sockaddr *addr, unsigned bits);

/* --- management resources ---------------------------------------------
 * The admin listener (server.admin) answers JSON over HTTP.  Besides the
 * core's own resources it serves those the links register here:
 *     METHOD /v1/RESOURCE[/ITEM][?link=NAME&KEY=VALUE...]
 * reaches the handler of the link that registered RESOURCE (the link
 * named by ?link= when several did: two registrars).  A handler answers
 * before it returns: sc_admin_reply then the body with sc_admin_printf /
 * sc_admin_json_str, or sc_admin_fail; one that does neither gets 500.
 * What a handler changes it changes on the loop, like a request would. */
typedef struct sc_admin_call sc_admin_call_t;
typedef void (*sc_admin_fn)(sc_instance_t *inst, sc_admin_call_t *call, void *arg);
/* In create or start.  resource: lower-case letters, digits and '-'.
 * -1 when the name is bad or this link registered it already. */
int         sc_admin_register(sc_instance_t *inst, const char *resource, sc_admin_fn fn, void *arg);
/* "GET", "POST", "PUT" or "DELETE". */
const char *sc_admin_method(const sc_admin_call_t *call);
/* The path after the resource, percent-decoded ("alice@example.com" of
 * /v1/registrations/alice%40example.com); "" when there is none. */
const char *sc_admin_item(const sc_admin_call_t *call);
/* A query parameter, decoded; NULL when absent. */
const char *sc_admin_param(const sc_admin_call_t *call, const char *name);
sc_str_t    sc_admin_body(const sc_admin_call_t *call);
/* Starts a JSON answer with that HTTP status; the body follows. */
void        sc_admin_reply(sc_admin_call_t *call, unsigned status);
void        sc_admin_printf(sc_admin_call_t *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s as a JSON string: quoted, escaped. */
void        sc_admin_json_str(sc_admin_call_t *call, sc_str_t s);
/* The whole answer: status and {"error": "<the sentence>"}. */
void        sc_admin_fail(sc_admin_call_t *call, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
/* The key of a map's child (iterate a map with sc_conf_first/next). */
const char *sc_conf_key(const sc_conf_node_t *n);
/* A YAML file of the module's own (a users file ...), with the same
 * file:line:col errors; free it with sc_conf_free. */
sc_conf_node_t *sc_conf_load(const char *path, char *err, size_t errlen);
void            sc_conf_free(sc_conf_node_t *root);
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

/* The URI of the To / From header (without <> and params), empty if none. */
sc_str_t sc_req_to_uri(const sc_req_t *req);
sc_str_t sc_req_from_uri(const sc_req_t *req);
/* The To tag, empty outside a dialog (RFC 3261 §12.2: a request in a
 * dialog carries one). */
sc_str_t sc_req_to_tag(const sc_req_t *req);
/* The dialog req is in; for an INVITE, the early dialog its reliable
 * provisional answer made (RFC 3262: its PRACK comes in it).  NULL when
 * none. */
struct sc_dialog *sc_req_dialog(const sc_req_t *req);
/* The i-th line (from 0) of a header, in order; empty past the last. */
sc_str_t sc_req_header_at(const sc_req_t *req, const char *name, int i);
/* The request exactly as it arrived, start line to body. */
sc_str_t sc_req_raw(const sc_req_t *req);
/* Our side of where it arrived: the listener's "host:port" (IPv6 in
 * brackets) as the sender reaches it, into out. */
void     sc_req_local(const sc_req_t *req, char *out, size_t cap);
/* A CANCEL for req (§9.2) calls cb (cancel: the CANCEL as received)
 * instead of the core answering 487: cb answers req (487) itself, now.
 * The CANCEL has its 200 already. */
typedef void (*sc_cancel_cb)(sc_req_t *req, sc_str_t cancel, void *arg);
void     sc_req_on_cancel(sc_req_t *req, sc_cancel_cb cb, void *arg);

/* --- registrations (RFC 3261 §10; RFC 3327, RFC 5626) -----------------
 * For registrars: the Contacts parsed by the core, the canonical
 * address-of-record, URI equality. */
typedef struct {
    sc_str_t uri;           /* the URI, without <> */
    sc_str_t params;        /* the header params ";..." (empty if none) */
    long     expires;       /* expires=, -1 when absent */
    int      q;             /* q in thousandths, -1 when absent */
    sc_str_t instance;      /* +sip.instance without its quotes; empty if none */
    long     reg_id;        /* reg-id=, -1 when absent */
} sc_contact_t;
/* Every Contact of req across its lines: how many there are (only the
 * first max are written), or -1 for "Contact: *". */
int  sc_req_contacts(const sc_req_t *req, sc_contact_t *out, int max);
/* The address-of-record of a sip:/sips: URI as "sip:user@host" (host in
 * lower case, no port or parameters).  Its length, or -1 (not a SIP URI,
 * or outlen too small). */
int  sc_uri_aor(sc_str_t uri, char *out, size_t outlen);
/* The user part (empty when none) and host (without port; IPv6 without
 * its brackets) of a sip:/sips: URI, as views into it: 0, or -1 when uri
 * is not one. */
int  sc_uri_user_host(sc_str_t uri, sc_str_t *user, sc_str_t *host);
/* Whether a host (of a URI or a header) is domain: host names in any
 * case, an IPv6 address with or without its brackets and in any of its
 * spellings ("::1", "[::1]", "[0:0::1]" are one). */
bool sc_host_matches(sc_str_t host, const char *domain);
/* Whether uri's host is domain (as sc_host_matches; NULL: any host) and
 * its user part starts with user_prefix (NULL: any user): static routes. */
bool sc_uri_matches(sc_str_t uri, const char *domain, const char *user_prefix);
/* RFC 3261 §19.1.4: the same URI (parameters, escapes, case as the rules
 * say). */
bool sc_uri_same(sc_str_t a, sc_str_t b);

/* The "location" service a registrar publishes (sc_service_publish) and
 * proxies route with: the live contacts of an AOR, best q first. */
#define SC_LOCATION_SERVICE "location"
typedef struct {
    const char *uri;        /* the Contact URI: the Request-URI to send to */
    const char *path;       /* RFC 3327 Path as registered ("<..>,<..>"): the
                               Route to put on the request; NULL if none */
    const char *received;   /* where it registered from: "udp:IP:PORT"
                               (reach a NATed phone there); NULL if unknown */
    const char *instance;   /* RFC 5626 +sip.instance, NULL if none */
    long        reg_id;     /* RFC 5626 reg-id, -1 if none */
    int         q;          /* thousandths (1000 when not given) */
    unsigned    expires_in; /* seconds left */
} sc_location_t;
typedef struct sc_location_api {
    /* The live contacts of aor (any SIP URI; canonicalised here), best q
     * first: how many (only the first max written).  The strings stay
     * valid until the event loop runs again. */
    int (*lookup)(const struct sc_location_api *api, const char *aor, sc_location_t *out, int max);
    /* Whether uri's host is a domain this registrar serves. */
    bool (*serves)(const struct sc_location_api *api, const char *uri);
} sc_location_api_t;

/* --- authentication (RFC 7616 / RFC 2617, the server side) -------------
 * For modules that check credentials: what the request carries, the
 * hashes, an HMAC-SHA-256 and random bytes, and the identity that the
 * modules after it (and the CDRs) see. */
typedef struct {
    sc_str_t username, realm, nonce, uri, response, algorithm, cnonce, qop, nc, opaque;
} sc_digest_creds_t;
/* The Digest credentials of req for realm (NULL: any) in Authorization,
 * or Proxy-Authorization when proxy: 0, or -1 when there are none. */
int  sc_req_digest(const sc_req_t *req, bool proxy, const char *realm, sc_digest_creds_t *out);
/* Takes off req every Authorization and Proxy-Authorization line whose
 * Digest credentials are for realm (this server's: they must not travel
 * on, RFC 3261 §22.3); other realms' lines stay.  How many went. */
int  sc_req_remove_credentials(sc_req_t *req, const char *realm);
/* Lower-case hex of H(parts joined by ':') for alg "MD5" or "SHA-256"
 * (NULL: MD5) into out (65 bytes).  0, or -1 for another algorithm. */
int  sc_digest_hash(const char *alg, const sc_str_t *parts, size_t n, char *out);
void sc_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char *out /* 32 bytes */);
int  sc_random(void *buf, size_t n);     /* 0, or -1 */
/* The authenticated user of req (a copy is kept); NULL when none. */
int         sc_req_set_user(sc_req_t *req, const char *user);
const char *sc_req_user(const sc_req_t *req);

/* What an authenticating module emits on the chain (sc_event_emit) for
 * every verdict on credentials: SC_AUTH_FAILURE_EVENT for a wrong
 * password or an unknown user (the two alike), SC_AUTH_SUCCESS_EVENT for
 * credentials accepted; data is a const sc_auth_event_t *, valid during
 * the call.  guard counts failures per source and per user with it. */
#define SC_AUTH_FAILURE_EVENT "auth:failure"
#define SC_AUTH_SUCCESS_EVENT "auth:success"
typedef struct {
    const char *source_ip;  /* numeric, as sc_req_source_ip */
    const char *user;       /* the username of the credentials, as sent */
    const char *realm;
} sc_auth_event_t;

/* The "credentials" service: HA1 = H(user:realm:password) as lower-case
 * hex, for alg "MD5" or "SHA-256".  0, or -1 (no such user or hash). */
#define SC_CREDENTIALS_SERVICE "credentials"
typedef struct sc_credentials_api {
    int (*ha1)(const struct sc_credentials_api *api, const char *user, const char *realm,
               const char *alg, char *out /* 65 bytes */);
} sc_credentials_api_t;

/* --- answering and passing on ---------------------------------------- */
/* Headers and body to send with the answer (copied). 0 or -1. */
int  sc_res_add_header(sc_res_t *res, const char *name, const char *value);
int  sc_res_set_body(sc_res_t *res, const char *content_type, sc_str_t body);
/* The To tag of our answers (a token, at most 64 characters) instead of
 * the one the core made, before any answer but 100 went out.  0 or -1. */
int  sc_res_set_to_tag(sc_res_t *res, const char *tag);
/* Sends the answer; a final one ends the request.  reason may be NULL. A
 * second final answer is logged and ignored.  0, or -1 if not sent. */
int  sc_res_send(sc_res_t *res, unsigned status, const char *reason);
/* cb sees every answer to res's request as it leaves (provisional and
 * final, whoever sent it: sc_res_send, sc_uas_create, the core), as the
 * bytes sent; arg is its argument. */
typedef void (*sc_sent_cb)(sc_str_t sent, void *arg);
void sc_res_on_sent(sc_res_t *res, sc_sent_cb cb, void *arg);
/* Ends the request without any answer (a flood's requests: an answer
 * costs us as much as it costs the sender, and tells a scanner someone
 * is here).  The server transaction is let go: a retransmission is a new
 * request to the chain. */
void sc_req_drop(sc_req_t *req);
/* Marks req as from a trusted peer (a gateway, an upstream proxy): the
 * modules after it skip their checks on it (digest-auth does not
 * challenge it).  Set by a module that decided so (guard). */
void sc_req_set_trusted(sc_req_t *req);
bool sc_req_trusted(const sc_req_t *req);
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
 * cancels the branches still ringing.  A target with a host name is
 * resolved (RFC 3263) and its addresses tried in turn while they fail
 * before answering.  The core's request timeout no longer applies: the
 * branches' timers end it (timer B/F: 408; timer C, restarted by each
 * provisional: CANCEL, then 408; no final 64*T1 after a CANCEL: given
 * up), and a stop CANCELs what still rings.  0, or -1 (nothing sent:
 * answer it yourself). */
typedef struct sc_response sc_response_t;   /* a response as modules read it (below) */
typedef struct {
    const char *const *targets;         /* URIs, NULL-terminated; NULL: the Request-URI */
    bool               parallel;        /* fork at once; else sequentially */
    bool               record_route;
    unsigned           provisional_timeout_s;  /* sequential: next target if no 1xx (0: none) */
    unsigned           final_timeout_s; /* cancel what rings past this (timer C; 0: 180 s) */
    bool               follow_redirects;    /* a 3xx's Contacts become targets (§16.5,
                                               up to 8 redirects); else it is relayed */
    /* per-attempt results: called as each target ends, with the URI tried
     * and its final answer (408 for no answer in time, 503 for a transport
     * error, 487 once cancelled); arg is attempt_arg.  Not called after
     * the request has its final answer (sc_res_on_sent sees it). */
    void (*on_attempt)(const char *target, const sc_response_t *r, void *arg);
    void              *attempt_arg;
    /* targets with a next hop of their own, e.g. the location service's
     * (used instead of targets when ncontacts > 0): a contact's Path
     * becomes the Route (RFC 3327), one without Path is sent where it
     * registered from (received: a phone behind NAT, RFC 5626 §5.3), and
     * they fork by q: all contacts of the best q at once, the next q when
     * all of those failed (§16.6) */
    const sc_location_t *contacts;
    int                  ncontacts;
    const char *const   *headers;        /* "Name: value" added to what goes out */
    const char *const   *remove_headers; /* names taken off what goes out */
    /* next hops, NULL-terminated (used instead of contacts and targets
     * when not NULL): one branch each, sent to that URI's address (like
     * an outbound proxy) with the Request-URI unchanged, or targets[i]
     * as its Request-URI when targets is given too; a next hop that is a
     * SIP URI with ;lr also goes on as the branch's top Route */
    const char *const   *next_hops;
} sc_proxy_opts_t;
int sc_proxy_request(sc_req_t *req, const sc_proxy_opts_t *o);
/* Whether req's next hop is this server: the Route after one naming us,
 * or with none the Request-URI (§16.4).  A request in a dialog nobody
 * here runs, whose next hop is elsewhere, belongs to a dialog a proxy
 * record-routed: sc_proxy_request without targets follows it. */
bool sc_req_next_hop_is_us(const sc_req_t *req);

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
unsigned sc_response_status(const sc_response_t *r);
sc_str_t sc_response_reason(const sc_response_t *r);
/* The first value of a header (any name form), empty when absent. */
sc_str_t sc_response_header(const sc_response_t *r, const char *name);
sc_str_t sc_response_body(const sc_response_t *r);
/* The response as received; empty for one the core made (408, 503). */
sc_str_t sc_response_raw(const sc_response_t *r);
typedef void (*sc_response_cb)(const sc_response_t *res, void *arg);

typedef struct {
    const char        *method;      /* OPTIONS, MESSAGE, NOTIFY, ... (not INVITE yet) */
    const char        *uri;         /* Request-URI, and where it goes (RFC 3263);
                                       ;transport=tcp|udp|tls honoured */
    const char *const *headers;     /* "Name: value", NULL-terminated; may be NULL.
                                       From, To, Call-ID, CSeq given here win */
    const char        *content_type;
    sc_str_t           body;
    /* the request as it leaves (with our Via ...), once per target tried;
     * arg is the callback's */
    void             (*on_request)(sc_str_t sent, void *arg);
} sc_request_opts_t;

/* 0 when sent (cb will be called), -1 with a log line when it cannot be
 * (bad URI, no transport).  A host name is resolved per RFC 3263 (NAPTR,
 * SRV, A/AAAA, the hosts file first) and the targets tried in turn while
 * they fail with a transport error or timeout; a name that leads nowhere
 * answers 503 with the reason ("no such domain" ...). */
int sc_request(sc_instance_t *inst, const sc_request_opts_t *o, sc_response_cb cb, void *arg);

/* Why the last sc_request or sc_uac_create of inst that failed at once
 * (-1, NULL) failed, "" when none has: "requested protocol/transport not
 * available" (drachtio-server's words: the URI names a transport, or our
 * listeners offer none for its address family), "out of memory", ...
 * Valid until the instance's next such call. */
const char *sc_instance_error(const sc_instance_t *inst);

/* --- dialogs (RFC 3261 §12–15, drachtio-srf's Dialog) ----------------
 * A dialog is created by sc_uas_create, sc_uac_create or sc_b2bua_create
 * and lives until either side ends it.  The core runs it: 2xx
 * retransmission until the ACK (and a BYE when none comes within 64*T1),
 * CSeq order (500), re-INVITE glare (491), target refresh, and the
 * default answers below.  Requests in it reach the module only through
 * the handlers set with sc_dialog_on, never through the chain.
 *
 * Lifetime: the dialog pointer is valid until SC_DIALOG_DESTROY has been
 * delivered (the far end or the core ended it) or sc_dialog_destroy
 * returned (we ended it).  The module's chain is kept across a reload
 * while dialogs it created live; at stop every dialog gets a BYE. */
typedef struct sc_dialog sc_dialog_t;

typedef enum {
    SC_DIALOG_DESTROY,  /* ended by the far end (req: the BYE, or the NOTIFY with
                           Subscription-State: terminated) or by the core (req
                           NULL: no ACK, session expired, stop).  Answered by
                           the core; the last event. */
    SC_DIALOG_MODIFY,   /* a re-INVITE offering a new session: the handler answers
                           it (default: 200 with the local SDP) */
    SC_DIALOG_REFRESH,  /* a re-INVITE with the same session (notification) */
    SC_DIALOG_HOLD,     /* a re-INVITE putting us on hold (notification) */
    SC_DIALOG_UNHOLD,   /* ... taking us off hold (notification) */
    SC_DIALOG_INFO,     /* requests in the dialog: the handler answers, */
    SC_DIALOG_NOTIFY,   /* default 200 (UPDATE with the local SDP) */
    SC_DIALOG_OPTIONS,
    SC_DIALOG_UPDATE,
    SC_DIALOG_REFER,
    SC_DIALOG_MESSAGE,
    SC_DIALOG_REQUEST,  /* every request in the dialog (when set, instead of the
                           events above and the defaults): the handler answers
                           it, BYE and PRACK too; an ACK comes with res NULL.
                           The core still keeps the dialog's state (CSeq order,
                           target refresh, SDP, the end on BYE). */
    SC_DIALOG_ACK,      /* the ACK of our 2xx to an INVITE, the first one or a
                           re-INVITE (notification: req is the ACK, its body the
                           answer when our 2xx made the offer; res NULL).  With
                           SC_DIALOG_REQUEST set, the ACK goes there instead.
                           (Appended: the values above are unchanged.) */
    SC_DIALOG__EVENTS
} sc_dialog_event_t;

/* req/res: the request and its answer for the request events (answer
 * with sc_res_send, now or later); for notifications res is NULL. */
typedef void (*sc_dialog_cb)(sc_dialog_t *d, sc_dialog_event_t ev, sc_req_t *req, sc_res_t *res,
                             void *arg);
/* Sets (cb) or clears (NULL: the default again) the handler of ev. */
void sc_dialog_on(sc_dialog_t *d, sc_dialog_event_t ev, sc_dialog_cb cb, void *arg);

/* drachtio's dialog id, "<Call-ID>;from-tag=<tag of the creating request>". */
const char *sc_dialog_id(const sc_dialog_t *d);
bool        sc_dialog_is_uac(const sc_dialog_t *d);
sc_str_t    sc_dialog_call_id(const sc_dialog_t *d);
sc_str_t    sc_dialog_local_tag(const sc_dialog_t *d);
sc_str_t    sc_dialog_remote_tag(const sc_dialog_t *d);
sc_str_t    sc_dialog_local_uri(const sc_dialog_t *d);
sc_str_t    sc_dialog_remote_uri(const sc_dialog_t *d);
sc_str_t    sc_dialog_local_sdp(const sc_dialog_t *d);
sc_str_t    sc_dialog_remote_sdp(const sc_dialog_t *d);

/* By id, or by Call-ID and the creating request's From tag; NULL when
 * no live dialog has it. */
sc_dialog_t *sc_dialog_find(const sc_instance_t *inst, const char *id);
sc_dialog_t *sc_dialog_find_by_call_id(const sc_instance_t *inst, const char *call_id,
                                       const char *from_tag);

/* Ends the dialog with BYE (a subscription: NOTIFY with
 * Subscription-State: terminated as notifier, SUBSCRIBE with Expires: 0
 * as subscriber) (headers added; may be NULL).  cb, when
 * given, gets the BYE's final response.  The dialog is gone on return
 * (no SC_DIALOG_DESTROY for it).  0, or -1 when the BYE could not be
 * sent (the dialog is gone all the same). */
int sc_dialog_destroy(sc_dialog_t *d, const char *const *headers, sc_response_cb cb, void *arg);
/* A re-INVITE offering sdp, or "hold" / "unhold" (the local SDP with
 * a=sendonly / a=sendrecv); the core ACKs the 2xx and keeps the new
 * local and remote SDP.  cb gets the final response.  -1 when it cannot
 * be sent, or while another re-INVITE is outstanding (§14.1). */
int sc_dialog_modify(sc_dialog_t *d, const char *sdp, sc_response_cb cb, void *arg);
/* The ACK of the 2xx that made d (sc_uac_opts_t.own_ack), with o's
 * headers and body (o may be NULL), sent again for each retransmission of
 * that 2xx.  When the core has sent the ACK of the last 2xx already (a
 * re-INVITE's), nothing more goes out.  Either way o->on_request (with
 * arg) sees the ACK as sent.  0, or -1 when no 2xx is to be ACKed. */
int sc_dialog_ack(sc_dialog_t *d, const sc_request_opts_t *o, void *arg);
/* Any other request in the dialog: o->method (INFO, NOTIFY, UPDATE, ...),
 * headers and body; o->uri is ignored (the remote target).  0 or -1. */
int sc_dialog_request(sc_dialog_t *d, const sc_request_opts_t *o, sc_response_cb cb, void *arg);

/* --- UAS, UAC, B2BUA (drachtio-srf's createUAS/UAC/B2BUA) ------------- */
typedef struct {
    const char        *local_sdp;       /* the 200's body */
    const char        *content_type;    /* NULL: application/sdp */
    const char *const *headers;         /* "Name: value" on the 200; may be NULL */
} sc_uas_opts_t;
/* Answers req (an INVITE, not yet answered) with 200 — To tag, Contact
 * (the address it arrived on), the local SDP — and returns the dialog,
 * created as the 200 leaves.  A SUBSCRIBE gets 202 with the Expires it
 * asked for (at most 3600 s, default 3600) and a subscription dialog:
 * the module sends its NOTIFYs with sc_dialog_request; it ends with a
 * NOTIFY "Subscription-State: terminated" (sc_dialog_destroy, expiry,
 * an unsubscribe).  NULL when it could not be answered (the
 * request was cancelled, is not an INVITE, or got 422 for too brief a
 * Session-Expires): then answer it with sc_res_send, which also lets go
 * of a request already answered.  On success the request is answered
 * and, outside the module's handler, gone. */
sc_dialog_t *sc_uas_create(sc_req_t *req, sc_res_t *res, const sc_uas_opts_t *o);

typedef struct sc_uac sc_uac_t;     /* a call being set up, until its callback */
typedef struct {
    const char        *uri;             /* the callee (RFC 3263 for a host name) */
    const char *const *headers;         /* on the INVITE (From, To win); may be NULL */
    const char        *local_sdp;       /* the offer */
    const char        *content_type;    /* NULL: application/sdp */
    const char        *proxy;           /* outbound proxy URI: sent there (Route) */
    const char        *auth_username;   /* answer a 401/407 challenge once */
    const char        *auth_password;
    /* progress (drachtio-srf's cbRequest / cbProvisional): arg is the
     * create call's arg */
    void (*on_request)(sc_str_t sent, void *arg);
    void (*on_provisional)(const sc_response_t *r, void *arg);
    const char        *method;          /* NULL: INVITE; or SUBSCRIBE (give Event
                                           and Expires in headers) */
    bool               follow_redirects;    /* a 3xx's Contacts are called in turn,
                                               best q first (up to 8 redirects) */
    bool               own_ack;         /* the module ACKs the 2xx (sc_dialog_ack),
                                           e.g. with the answer to a late offer */
    unsigned           final_timeout_s; /* timer C: CANCEL when no final answer this
                                           long after the last provisional; the
                                           callback then gets 408 (0: 180 s) */
} sc_uac_opts_t;
/* Called once: with the dialog on 2xx (the core sent the ACK), or with
 * d NULL and the final response on failure (408 timeout — timer B, or
 * timer C after a CANCEL —, 503 transport, 487 cancelled, or what the
 * callee answered). */
typedef void (*sc_uac_cb)(sc_dialog_t *d, const sc_response_t *final, void *arg);
/* Sends the INVITE.  Returns the call (for sc_uac_cancel), or NULL with
 * a log line when it cannot be sent (bad URI, no transport). */
sc_uac_t *sc_uac_create(sc_instance_t *inst, const sc_uac_opts_t *o, sc_uac_cb cb, void *arg);
/* §9.1: CANCEL (sent once the callee sent a provisional); the callback
 * follows with 487 or, if the callee answered first, its 2xx. */
void      sc_uac_cancel(sc_uac_t *u);

typedef struct {
    const char        *uri;                 /* B's Request-URI */
    const char *const *headers;             /* added to B's INVITE */
    const char *const *response_headers;    /* added to responses to A */
    /* or computed per response from B (may call sc_res_add_header) */
    void (*response_headers_cb)(const sc_response_t *b, sc_res_t *a, void *arg);
    const char        *local_sdp_a;         /* the SDP A gets; NULL: B's */
    const char *(*local_sdp_a_cb)(sc_str_t b_sdp, const sc_response_t *b, void *arg);
    const char        *local_sdp_b;         /* the offer to B; NULL: A's */
    const char *const *proxy_request_headers;   /* names copied A's INVITE -> B's */
    const char *const *proxy_response_headers;  /* names copied B's response -> A's */
    bool               pass_failure;        /* B's failure goes to A (else the module
                                               answers A, e.g. after trying elsewhere) */
    bool               pass_provisional;    /* B's 1xx go to A */
    const char        *proxy, *auth_username, *auth_password;
    void (*on_request)(sc_str_t sent, void *arg);
    void (*on_provisional)(const sc_response_t *r, void *arg);
    void (*on_finalized_uac)(sc_dialog_t *uac, void *arg);  /* B answered */
    unsigned           final_timeout_s;     /* B's timer C (sc_uac_opts_t) */
} sc_b2bua_opts_t;
#define SC_B2BUA_OPTS_INIT { .pass_failure = true, .pass_provisional = true }
/* Once: both dialogs when connected; else both NULL and B's final
 * response (487 when A cancelled: A has its 487 already). */
typedef void (*sc_b2bua_cb)(sc_dialog_t *uas, sc_dialog_t *uac, const sc_response_t *final,
                            void *arg);
/* Calls B for the INVITE req from A and connects them.  A CANCEL from A
 * cancels B, and so does any failure A is answered with while B rings
 * (A never PRACKed, the server stops); the core's request timeout does
 * not end req, B's timers do (B, and timer C once it rings).  B's 2xx
 * reaches A only once A PRACKed a reliable provisional with SDP we sent
 * it (RFC 3262 §3); if A fails first, B gets ACK and BYE.  NULL when B
 * cannot be called (req still yours), or when A's Session-Expires is
 * below the configured Min-SE: then A has its 422 with Min-SE (RFC 4028
 * §8.1) and the module's sc_res_send only lets go of req. */
sc_uac_t *sc_b2bua_create(sc_req_t *req, sc_res_t *res, const sc_b2bua_opts_t *o, sc_b2bua_cb cb,
                          void *arg);

/* --- CDR events (drachtio's cdr:attempt / cdr:start / cdr:stop) -------
 * Emitted on the chain (sc_event_subscribe) for every INVITE that starts
 * a call: received from the network, or sent by a module.  A cdr:stop
 * comes only for a call that had its cdr:attempt: none for a BYE (or
 * another request) of a dialog this server does not know. */
typedef struct {
    const char *source;     /* "network" (received) or "application" (sent) */
    const char *time;       /* UTC, "2026-11-23T10:00:00.123Z" */
    const char *role;       /* cdr:start: "uac", "uas", "proxy-uac", "proxy-uas" */
    const char *reason;     /* cdr:stop: "call-rejected", "call-canceled",
                               "normal-release", "session-expired",
                               "system-initiated-termination" */
    unsigned    status;     /* the final status of the INVITE (0: none yet) */
    sc_str_t    msg;        /* the message, as received or sent */
    sc_str_t    call_id, from, to;
    const char *user;       /* who authenticated the INVITE (sc_req_user), or NULL */
    /* For accounting, on every event (role above is drachtio's, on
     * cdr:start only): what the call is to this server, "uas", "uac",
     * "proxy-uas", "b2bua-uas" (a B2BUA's A leg) or "b2bua-uac" (its B
     * leg), NULL while not known (a cdr:attempt received); the key the
     * records of one call share (both legs of a B2BUA: A's Call-ID; else
     * the call's own); and, on cdr:stop, whether the INVITE was only
     * challenged (401/407 to a call received: its retry, a new INVITE,
     * is the call). */
    const char *call_role;
    sc_str_t    correlation;
    bool        challenge;
} sc_cdr_t;

/* --- metrics ------------------------------------------------------------
 * Series on the metrics page (server.metrics: Prometheus text format).  A
 * name (sipchain_<module>_<what>, Prometheus naming) and a label text
 * (what goes between the braces, e.g. "result=\"refused\"", or NULL) name
 * one series; asking again returns the same one, so a module re-created
 * by a reload keeps counting.  Get them in create, update them from the
 * event loop; updates on NULL (out of memory) do nothing.
 *
 * A module's series are its instance's: sc_instance_counter and the
 * others add the label link="<the link's name, else its position>" (as
 * sipchain_module_handle_seconds), so two instances of one module keep
 * apart, and a reload's new instance of the link continues the series.
 * labels must not hold a link label of their own (NULL).  Gauges:
 * sc_metric_add is a contribution whoever makes it; sc_metric_set is the
 * value, and only the newest instance of the link sets it (the one a
 * reload replaces may still run while it drains); a gauge no instance
 * holds any more leaves the page.  The calls without an instance make
 * series of no link, which live as long as the process. */
typedef struct sc_metric sc_metric_t;
sc_metric_t *sc_instance_counter(sc_instance_t *inst, const char *name, const char *help,
                                 const char *labels);
sc_metric_t *sc_instance_gauge(sc_instance_t *inst, const char *name, const char *help,
                               const char *labels);
sc_metric_t *sc_instance_histogram(sc_instance_t *inst, const char *name, const char *help,
                                   const char *labels);
sc_metric_t *sc_metric_counter(const char *name, const char *help, const char *labels);
sc_metric_t *sc_metric_gauge(const char *name, const char *help, const char *labels);
/* Durations in seconds, buckets from 10 us to 250 ms. */
sc_metric_t *sc_metric_histogram(const char *name, const char *help, const char *labels);
void         sc_metric_add(sc_metric_t *m, int64_t n);      /* counter, gauge */
void         sc_metric_set(sc_metric_t *m, int64_t v);      /* gauge */
void         sc_metric_observe(sc_metric_t *m, double seconds);

#endif
