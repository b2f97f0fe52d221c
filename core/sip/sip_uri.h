/*
 * sip_uri.h — SIP, SIPS and TEL URIs (RFC 3261 §19.1, §25.1; RFC 3966),
 * parsed into views of the original text.  Other schemes (RFC 4475 unkscm,
 * novelsc) parse as opaque so a higher layer can answer 416.
 *
 * Escapes stay as they are in every view: decoding happens only on request
 * (sc_uri_unescape) and only once, never recursively (RFC 4475 §3.1.1.3).
 */
#ifndef SIP_URI_H
#define SIP_URI_H

#include "sip_lex.h"

typedef enum {
    SC_URI_OTHER = 0,
    SC_URI_SIP,
    SC_URI_SIPS,
    SC_URI_TEL,
} sc_uri_scheme_t;

typedef struct {
    sc_uri_scheme_t scheme;
    sc_str_t raw;          /* the whole URI */
    sc_str_t scheme_str;
    sc_str_t user;         /* escaped, as received; empty when absent */
    sc_str_t password;
    sc_str_t host;         /* IPv6 without its brackets; see host_ipv6 */
    uint16_t port;         /* 0 when absent (absent != 5060, §19.1.4) */
    bool     has_user;     /* "sip:@host" has an empty user, not none */
    bool     has_password;
    bool     host_ipv6;
    bool     lr;
    sc_str_t params;       /* ";a=b;c" including the first ';', or empty */
    sc_str_t headers;      /* "a=b&c=d" after '?', or empty */
    sc_str_t transport;    /* well-known uri-params, empty when absent */
    sc_str_t maddr;
    sc_str_t user_param;
    sc_str_t method_param;
    sc_str_t ttl;
    sc_str_t opaque;       /* for SC_URI_OTHER: everything after ':' */
} sc_uri_t;

/* Parses text as a URI.  Returns NULL on success or a reason phrase
 * ("invalid port", "IPv6 address must be enclosed in []", ...). */
const char *sc_uri_parse(sc_uri_t *uri, sc_str_t text);

/* RFC 3261 §19.1.4 equality.  Only SIP/SIPS are compared by the rules; two
 * URIs of another scheme are equal when their text is equal. */
bool sc_uri_equal(const sc_uri_t *a, const sc_uri_t *b);

/* Decodes every %HH of v once into out (which must hold v.len bytes).
 * Returns the decoded length, or (size_t)-1 when a '%' is not followed by
 * two hex digits.  The result may contain NUL (RFC 4475 escnull). */
size_t sc_uri_unescape(sc_str_t v, char *out);

/* Iterate uri-parameters (";name[=value]" with no whitespace).  Returns 1
 * and the next name/value, 0 at the end.  value.s is NULL for "no value". */
int sc_uri_param_next(sc_str_t *params, sc_str_t *name, sc_str_t *value);

/* The port to use when none is given: 5061 for sips, else 5060. */
static inline uint16_t sc_uri_port_or_default(const sc_uri_t *u)
{
    return u->port ? u->port : (u->scheme == SC_URI_SIPS ? 5061 : 5060);
}

#endif
