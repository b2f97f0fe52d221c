/*
 * hdr_auth.c — the digest fields of Authorization, Proxy-Authorization,
 * WWW-Authenticate and Proxy-Authenticate (RFC 2617 §3.2.1-3.2.2, RFC 7616
 * §3.3-3.4).  A scheme other than Digest is kept as an opaque parameter
 * string so a proxy can forward it untouched (RFC 4475 regaut01).
 */
#include "sip_hdr.h"

typedef struct {
    const char *name;
    size_t      len;
    size_t      off;
} field_t;

#define F(n) { #n, sizeof(#n) - 1, offsetof(sc_digest_t, n) }
static const field_t fields[] = {
    F(username), F(realm), F(nonce), F(uri), F(response), F(algorithm),
    F(cnonce), F(opaque), F(qop), F(nc), F(domain), F(stale),
};

const char *sc_digest_parse(sc_digest_t *d, sc_str_t value)
{
    memset(d, 0, sizeof(*d));
    sc_str_t v = sc_trim(value);
    size_t n = sc_span(v, SC_C_TOKEN);
    if (n == 0)
        return "missing authentication scheme";
    d->scheme = sc_str(v.s, n);
    d->params = sc_trim(sc_str(v.s + n, v.len - n));
    d->is_digest = sc_str_caseeq_c(d->scheme, "Digest");
    if (!d->is_digest)
        return NULL;
    if (n < v.len && !sc_is((unsigned char)v.s[n], SC_C_WS))
        return "missing space after scheme";

    sc_str_t rest = d->params, e;
    const char *bad = NULL;
    while (sc_list_next(&rest, &e, &bad)) {
        if (e.len == 0)
            continue;               /* RFC 7230 #rule: empty elements allowed */
        size_t k = sc_span(e, SC_C_TOKEN);
        if (k == 0)
            return "invalid auth parameter";
        sc_str_t name = sc_str(e.s, k);
        sc_str_t val = sc_skip_ws(sc_str(e.s + k, e.len - k));
        if (val.len == 0 || val.s[0] != '=')
            return "auth parameter without value";
        val = sc_skip_ws(sc_str(val.s + 1, val.len - 1));
        if (val.len && val.s[0] == '"') {
            if (sc_quoted_len(val) != val.len)
                return "malformed quoted auth parameter";
            val = sc_str(val.s + 1, val.len - 2);
        } else if (!sc_is_token(val)) {
            return "invalid auth parameter value";
        }
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            if (sc_token_eq_lc(name, fields[i].name, fields[i].len)) {
                *(sc_str_t *)((char *)d + fields[i].off) = val;
                break;
            }
        if (SC_TOKEN_IS(name, "userhash"))
            d->userhash = sc_str_caseeq_c(val, "true");
    }
    return bad;
}
