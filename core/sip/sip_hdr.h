/*
 * sip_hdr.h — typed views of the header fields the stack needs (RFC 3261
 * §20).  Every parser takes the header's value (already unfolded) and
 * fills a struct of views into it; values that can repeat in one line
 * (Via, Contact, Route, ...) become linked lists allocated from the
 * message's pool.  Each parser returns NULL or a reason phrase naming the
 * defect; the message parser prefixes the header name.
 */
#ifndef SIP_HDR_H
#define SIP_HDR_H

#include <time.h>

#include "sip_uri.h"
#include "sc_pool.h"

typedef enum {
    SC_METHOD_OTHER = 0,
    SC_METHOD_INVITE,
    SC_METHOD_ACK,
    SC_METHOD_BYE,
    SC_METHOD_CANCEL,
    SC_METHOD_OPTIONS,
    SC_METHOD_REGISTER,
    SC_METHOD_PRACK,
    SC_METHOD_SUBSCRIBE,
    SC_METHOD_NOTIFY,
    SC_METHOD_PUBLISH,
    SC_METHOD_INFO,
    SC_METHOD_REFER,
    SC_METHOD_MESSAGE,
    SC_METHOD_UPDATE,
} sc_method_t;

/* Methods are case-sensitive (RFC 3261 §7.1): "invite" is an extension. */
sc_method_t sc_method_from_str(sc_str_t m);
const char *sc_method_name(sc_method_t m);

/* Via (RFC 3261 §20.42, RFC 3581 rport). */
typedef struct sc_via {
    sc_str_t raw;
    sc_str_t protocol;      /* "SIP/2.0" as written, LWS removed by caller view */
    sc_str_t transport;     /* "UDP", "TCP", "TLS", "SCTP", or anything else */
    sc_str_t host;          /* IPv6 without brackets */
    uint16_t port;          /* 0 when absent */
    bool     host_ipv6;
    bool     has_rport;
    bool     has_branch;
    sc_str_t branch;
    sc_str_t received;      /* brackets stripped if the sender used them */
    sc_str_t rport;         /* value, empty for a bare ";rport" */
    sc_str_t maddr;
    int      ttl;           /* -1 when absent */
    sc_str_t params;        /* ";..." as written */
    struct sc_via *next;
} sc_via_t;

/* name-addr / addr-spec with header parameters (From, To, Contact, Route,
 * Record-Route, Path, Reply-To ...). */
typedef struct sc_addr {
    sc_str_t raw;
    sc_str_t display;       /* without quotes; escapes kept; empty if none */
    bool     display_quoted;
    bool     angle;         /* written as name-addr <...> */
    sc_uri_t uri;
    sc_str_t params;        /* header params ";..." after the URI */
    sc_str_t tag;           /* tag= (From/To) */
    bool     has_expires;   /* Contact expires= */
    uint32_t expires;       /* saturates at 2^32-1 */
    int      q;             /* Contact q in thousandths, -1 when absent */
    struct sc_addr *next;
} sc_addr_t;

typedef struct {
    uint32_t    num;
    sc_method_t method;
    sc_str_t    method_str;
} sc_cseq_t;

typedef struct {
    sc_str_t type, subtype; /* "application", "sdp" */
    sc_str_t params;
} sc_ctype_t;

/* A comma list of tokens (Require, Supported, Allow ...). */
typedef struct sc_token_list {
    sc_str_t tok;
    struct sc_token_list *next;
} sc_token_list_t;

/* Credentials and challenges (RFC 2617 §3.2, RFC 7616 §3.3-3.4).  Quoted
 * values are views without the quotes. */
typedef struct sc_digest {
    sc_str_t scheme;        /* "Digest" or any other scheme token */
    bool     is_digest;
    sc_str_t username, realm, nonce, uri, response, algorithm;
    sc_str_t cnonce, opaque, qop, nc, domain, stale;
    bool     userhash;
    sc_str_t params;        /* everything after the scheme */
    struct sc_digest *next;
} sc_digest_t;

/* Parsers.  pool is used for list nodes only; the views point into value. */
/* List parsers append to the list whose last next-pointer is *tail. */
const char *sc_via_parse(sc_pool_t *pool, sc_str_t value, sc_via_t ***tail);
const char *sc_addr_parse(sc_addr_t *a, sc_str_t value);
/* A comma list of name-addrs; contacts says "Contact rules" (expires, q,
 * and the lone '*' reported through *star). */
const char *sc_addr_list_parse(sc_pool_t *pool, sc_str_t value, bool contacts,
                               bool *star, sc_addr_t ***tail);
const char *sc_cseq_parse(sc_cseq_t *c, sc_str_t value);
const char *sc_uint_parse(sc_str_t value, uint64_t max, uint64_t *out);
const char *sc_ctype_parse(sc_ctype_t *ct, sc_str_t value);
const char *sc_token_list_parse(sc_pool_t *pool, sc_str_t value, sc_token_list_t ***tail);
const char *sc_digest_parse(sc_digest_t *d, sc_str_t value);
/* rfc1123-date, "GMT" only (RFC 3261 §20.17). */
const char *sc_date_parse(sc_str_t value, time_t *out);
/* Expires / delta-seconds: an over-large value saturates at 2^32-1, as
 * RFC 4475 §3.1.2.4 allows, so a registrar clamps it to its maximum. */
const char *sc_delta_seconds_parse(sc_str_t value, uint32_t *out);

bool sc_token_list_has(const sc_token_list_t *l, const char *tok);

#endif
