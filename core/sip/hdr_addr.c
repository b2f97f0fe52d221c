/*
 * hdr_addr.c — name-addr / addr-spec with header parameters (RFC 3261
 * §20.10 Contact, §20.20 From, §20.39 To, §20.34 Route, §20.30
 * Record-Route; RFC 3327 Path).
 *
 * In the addr-spec form every ';' after the URI starts a header parameter,
 * not a uri-parameter (RFC 4475 cparam01), and a URI with '?' must be in
 * angle brackets (regbadct).  A token display name glued to '<' is accepted
 * although the grammar forbids it (RFC 4475 lwsdisp).
 */
#include "sip_hdr.h"

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
static bool parse_q(sc_str_t v, int *q)
{
    if (v.len == 0 || (v.s[0] != '0' && v.s[0] != '1'))
        return false;
    int whole = v.s[0] - '0', frac = 0, digits = 0;
    if (v.len > 1) {
        if (v.s[1] != '.' || v.len > 5)
            return false;
        for (size_t i = 2; i < v.len; i++) {
            if (!sc_is((unsigned char)v.s[i], SC_C_DIGIT))
                return false;
            frac = frac * 10 + (v.s[i] - '0');
            digits++;
        }
    }
    while (digits++ < 3)
        frac *= 10;
    if (whole == 1 && frac != 0)
        return false;
    *q = whole * 1000 + frac;
    return true;
}

static const char *header_params(sc_addr_t *a, sc_str_t p)
{
    sc_str_t name, value;
    const char *bad = NULL;
    int r;
    a->params = sc_trim(p);
    p = a->params;
    while ((r = sc_param_next(&p, &name, &value, &bad)) == 1) {
        if (SC_TOKEN_IS(name, "tag")) {
            if (value.s == NULL)
                return "tag without value";
            a->tag = value;
        } else if (SC_TOKEN_IS(name, "expires")) {
            if (value.s == NULL ||
                sc_delta_seconds_parse(value, &a->expires) != NULL)
                return "invalid expires parameter";
            a->has_expires = true;
        } else if (SC_TOKEN_IS(name, "q")) {
            if (value.s == NULL || !parse_q(value, &a->q))
                return "invalid q value";
        }
    }
    return r < 0 ? bad : NULL;
}

const char *sc_addr_parse(sc_addr_t *a, sc_str_t value)
{
    /* every field but the URI, which sc_uri_parse clears itself */
    memset(a, 0, offsetof(sc_addr_t, uri));
    memset(&a->uri + 1, 0, sizeof(*a) - offsetof(sc_addr_t, uri) - sizeof(a->uri));
    a->q = -1;
    sc_str_t v = sc_trim(value);
    a->raw = v;
    if (v.len == 0)
        return "empty address";

    const char *lt = NULL;
    if (v.s[0] == '"') {
        size_t q = sc_quoted_len(v);
        if (q == 0)
            return "unterminated quoted display name";
        a->display = sc_str(v.s + 1, q - 2);
        a->display_quoted = true;
        sc_str_t after = sc_skip_ws(sc_str(v.s + q, v.len - q));
        if (after.len == 0 || after.s[0] != '<')
            return "quoted display name not followed by <URI>";
        lt = after.s;
    } else {
        lt = memchr(v.s, '<', v.len);
        if (lt) {
            sc_str_t dn = sc_trim(sc_str(v.s, (size_t)(lt - v.s)));
            for (size_t i = 0; i < dn.len; i++)
                if (!sc_is((unsigned char)dn.s[i], SC_C_TOKEN | SC_C_WS))
                    return "display name with special characters must be quoted";
            a->display = dn;
        }
    }

    sc_str_t uri_text, rest;
    if (lt) {
        size_t off = (size_t)(lt - v.s);
        const char *gt = memchr(lt, '>', v.len - off);
        if (gt == NULL)
            return "'<' without matching '>'";
        uri_text = sc_str(lt + 1, (size_t)(gt - lt) - 1);
        if (uri_text.len && (sc_is((unsigned char)uri_text.s[0], SC_C_WS) ||
                             sc_is((unsigned char)uri_text.s[uri_text.len - 1], SC_C_WS)))
            return "whitespace inside <>";
        a->angle = true;
        rest = sc_str(gt + 1, v.len - (size_t)(gt + 1 - v.s));
    } else {
        size_t n = 0;
        while (n < v.len && v.s[n] != ';' && !sc_is((unsigned char)v.s[n], SC_C_WS))
            n++;
        uri_text = sc_str(v.s, n);
        if (memchr(uri_text.s, '?', uri_text.len))
            return "URI with headers must be enclosed in <>";
        rest = sc_str(v.s + n, v.len - n);
    }
    const char *bad = sc_uri_parse(&a->uri, uri_text);   /* clears a->uri */
    if (bad)
        return bad;
    return header_params(a, rest);
}

const char *sc_addr_list_parse(sc_pool_t *pool, sc_str_t value, bool contacts,
                               bool *star, sc_addr_t ***tail)
{
    sc_str_t rest = value, e;
    const char *bad = NULL;
    bool any = false;
    if (contacts && sc_str_eq_c(sc_trim(value), "*")) {
        *star = true;
        return NULL;
    }
    while (sc_list_next(&rest, &e, &bad)) {
        if (e.len == 0)
            return "empty value in list";
        if (contacts && sc_str_eq_c(e, "*"))
            return "'*' must be the only Contact";
        sc_addr_t *a = sc_pool_alloc_raw(pool, sizeof(*a));  /* sc_addr_parse clears it */
        if (a == NULL)
            return "out of memory";
        const char *err = sc_addr_parse(a, e);
        if (err)
            return err;
        **tail = a;
        *tail = &a->next;
        any = true;
    }
    if (bad)
        return bad;
    return any ? NULL : "empty value";
}
