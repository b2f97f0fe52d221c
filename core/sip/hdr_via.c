/*
 * hdr_via.c — Via (RFC 3261 §20.42, §25.1 via-parm; RFC 3581 rport).
 *
 * Every separator may carry LWS ("SIP / 2.0 / UDP", RFC 4475 wsinv), any
 * transport token is accepted (RFC 4475 transports), and received may hold
 * a bare or bracketed IPv6 address (RFC 5118 §4.5).
 */
#include "sip_hdr.h"

static sc_str_t take_token(sc_str_t *v)
{
    *v = sc_skip_ws(*v);
    size_t n = sc_span(*v, SC_C_TOKEN);
    sc_str_t t = sc_str(v->s, n);
    v->s += n;
    v->len -= n;
    *v = sc_skip_ws(*v);
    return t;
}

static bool take_char(sc_str_t *v, char c)
{
    if (v->len == 0 || v->s[0] != c)
        return false;
    v->s++;
    v->len--;
    return true;
}

static const char *via_one(sc_via_t *via, sc_str_t e)
{
    via->raw = e;
    via->ttl = -1;
    sc_str_t v = e;
    sc_str_t name = take_token(&v);
    if (name.len == 0 || !take_char(&v, '/'))
        return "malformed sent-protocol";
    sc_str_t ver = take_token(&v);
    if (ver.len == 0 || !take_char(&v, '/'))
        return "malformed sent-protocol";
    via->protocol = sc_str(name.s, (size_t)(ver.s + ver.len - name.s));
    if (!sc_str_caseeq_c(name, "SIP") || !sc_str_eq_c(ver, "2.0"))
        return "unsupported protocol (only SIP/2.0)";
    via->transport = take_token(&v);
    if (via->transport.len == 0)
        return "missing transport";
    /* sent-by = host [ COLON port ] */
    if (v.len && v.s[0] == '[') {
        const char *close = memchr(v.s, ']', v.len);
        if (close == NULL)
            return "'[' without ']' in sent-by";
        via->host = sc_str(v.s + 1, (size_t)(close - v.s) - 1);
        via->host_ipv6 = true;
        if (via->host.len < 2 || sc_span(via->host, SC_C_HEX) == via->host.len)
            return "invalid IPv6 reference in sent-by";
        size_t n = (size_t)(close - v.s) + 1;
        v = sc_str(v.s + n, v.len - n);
    } else {
        size_t n = sc_span(v, SC_C_HOST);
        if (n == 0)
            return "missing sent-by";
        via->host = sc_str(v.s, n);
        v = sc_str(v.s + n, v.len - n);
    }
    v = sc_skip_ws(v);
    if (take_char(&v, ':')) {
        v = sc_skip_ws(v);
        size_t n = sc_span(v, SC_C_DIGIT);
        uint64_t port;
        if (!sc_str_to_u64(sc_str(v.s, n), 65535, &port) || port == 0)
            return "invalid port in sent-by";
        via->port = (uint16_t)port;
        v = sc_str(v.s + n, v.len - n);
    }
    via->params = sc_skip_ws(v);
    sc_str_t p = via->params, pn, pv;
    const char *bad = NULL;
    int r;
    while ((r = sc_param_next(&p, &pn, &pv, &bad)) == 1) {
        if (SC_TOKEN_IS(pn, "branch")) {
            if (pv.s == NULL)
                return "branch without value";
            via->branch = pv;
            via->has_branch = true;
        } else if (SC_TOKEN_IS(pn, "received")) {
            if (pv.s == NULL)
                return "received without value";
            if (pv.len > 2 && pv.s[0] == '[' && pv.s[pv.len - 1] == ']')
                pv = sc_str(pv.s + 1, pv.len - 2);
            via->received = pv;
        } else if (SC_TOKEN_IS(pn, "rport")) {
            uint64_t port;
            via->has_rport = true;
            if (pv.s) {
                if (!sc_str_to_u64(pv, 65535, &port) || port == 0)
                    return "invalid rport";
                via->rport = pv;
            }
        } else if (SC_TOKEN_IS(pn, "maddr")) {
            if (pv.s == NULL)
                return "maddr without value";
            via->maddr = pv;
        } else if (SC_TOKEN_IS(pn, "ttl")) {
            uint64_t ttl;
            if (pv.s == NULL || !sc_str_to_u64(pv, 255, &ttl))
                return "invalid ttl";
            via->ttl = (int)ttl;
        }
    }
    return r < 0 ? bad : NULL;
}

const char *sc_via_parse(sc_pool_t *pool, sc_str_t value, sc_via_t ***tail)
{
    sc_str_t rest = value, e;
    const char *bad = NULL;
    bool any = false;
    while (sc_list_next(&rest, &e, &bad)) {
        if (e.len == 0)
            return "empty Via value";
        sc_via_t *via = sc_pool_alloc(pool, sizeof(*via));
        if (via == NULL)
            return "out of memory";
        const char *err = via_one(via, e);
        if (err)
            return err;
        **tail = via;
        *tail = &via->next;
        any = true;
    }
    if (bad)
        return bad;
    return any ? NULL : "empty Via value";
}
