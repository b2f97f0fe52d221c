/*
 * hdr_scalar.c — the single-valued headers: CSeq (§20.16), Content-Length
 * (§20.14), Max-Forwards (§20.22), Expires (§20.19), Content-Type
 * (§20.15), option-tag lists (§20.32 Require, §20.37 Supported ...), Date
 * (§20.17), and the method table.
 *
 * Numbers are bounded as the grammar bounds them: CSeq and delta-seconds
 * to 2^32-1 (RFC 4475 scalar02: a larger CSeq is an error; a larger
 * Expires saturates), never by the width of a C integer.
 */
#include "sip_hdr.h"

static const char *const method_names[] = {
    [SC_METHOD_OTHER] = NULL,           [SC_METHOD_INVITE] = "INVITE",
    [SC_METHOD_ACK] = "ACK",            [SC_METHOD_BYE] = "BYE",
    [SC_METHOD_CANCEL] = "CANCEL",      [SC_METHOD_OPTIONS] = "OPTIONS",
    [SC_METHOD_REGISTER] = "REGISTER",  [SC_METHOD_PRACK] = "PRACK",
    [SC_METHOD_SUBSCRIBE] = "SUBSCRIBE", [SC_METHOD_NOTIFY] = "NOTIFY",
    [SC_METHOD_PUBLISH] = "PUBLISH",    [SC_METHOD_INFO] = "INFO",
    [SC_METHOD_REFER] = "REFER",        [SC_METHOD_MESSAGE] = "MESSAGE",
    [SC_METHOD_UPDATE] = "UPDATE",
};

sc_method_t sc_method_from_str(sc_str_t m)
{
    /* dispatch on the first letter: at most three candidates each */
    if (m.len < 3)
        return SC_METHOD_OTHER;
    for (int i = SC_METHOD_INVITE; i <= SC_METHOD_UPDATE; i++)
        if (method_names[i][0] == m.s[0] && sc_str_eq_c(m, method_names[i]))
            return (sc_method_t)i;
    return SC_METHOD_OTHER;
}

const char *sc_method_name(sc_method_t m)
{
    return m <= SC_METHOD_UPDATE ? method_names[m] : NULL;
}

static const char out_of_range[] = "number out of range";

const char *sc_uint_parse(sc_str_t value, uint64_t max, uint64_t *out)
{
    sc_str_t v = sc_trim(value);
    if (v.len == 0)
        return "missing number";
    size_t n = sc_span(v, SC_C_DIGIT);
    if (n != v.len)
        return "not a number";
    if (!sc_str_to_u64(v, max, out))
        return out_of_range;
    return NULL;
}

const char *sc_delta_seconds_parse(sc_str_t value, uint32_t *out)
{
    uint64_t n;
    const char *bad = sc_uint_parse(value, UINT32_MAX, &n);
    if (bad == out_of_range) {
        *out = UINT32_MAX;
        return NULL;
    }
    if (bad)
        return bad;
    *out = (uint32_t)n;
    return NULL;
}

const char *sc_cseq_parse(sc_cseq_t *c, sc_str_t value)
{
    sc_str_t v = sc_trim(value);
    size_t n = sc_span(v, SC_C_DIGIT);
    if (n == 0)
        return "sequence number is not a number";
    uint64_t num;
    if (!sc_str_to_u64(sc_str(v.s, n), UINT32_MAX, &num))
        return "sequence number exceeds 2^32-1";
    c->num = (uint32_t)num;
    sc_str_t rest = sc_str(v.s + n, v.len - n);
    size_t ws = sc_span(rest, SC_C_WS);
    if (ws == 0)
        return rest.len ? "sequence number is not a number" : "missing method";
    rest = sc_str(rest.s + ws, rest.len - ws);
    if (!sc_is_token(rest))
        return "invalid method";
    c->method_str = rest;
    c->method = sc_method_from_str(rest);
    return NULL;
}

const char *sc_ctype_parse(sc_ctype_t *ct, sc_str_t value)
{
    sc_str_t v = sc_trim(value);
    size_t n = sc_span(v, SC_C_TOKEN);
    if (n == 0)
        return "missing media type";
    ct->type = sc_str(v.s, n);
    v = sc_skip_ws(sc_str(v.s + n, v.len - n));
    if (v.len == 0 || v.s[0] != '/')
        return "missing '/' in media type";
    v = sc_skip_ws(sc_str(v.s + 1, v.len - 1));
    n = sc_span(v, SC_C_TOKEN);
    if (n == 0)
        return "missing media subtype";
    ct->subtype = sc_str(v.s, n);
    ct->params = sc_skip_ws(sc_str(v.s + n, v.len - n));
    sc_str_t p = ct->params, pn, pv;
    const char *bad = NULL;
    int r;
    while ((r = sc_param_next(&p, &pn, &pv, &bad)) == 1)
        if (pv.s == NULL)
            return "media type parameter without value";
    return r < 0 ? bad : NULL;
}

const char *sc_token_list_parse(sc_pool_t *pool, sc_str_t value, sc_token_list_t ***tail)
{
    sc_str_t rest = value, e;
    const char *bad = NULL;
    if (sc_trim(value).len == 0)
        return NULL;            /* "Supported:" with no tags is legal */
    while (sc_list_next(&rest, &e, &bad)) {
        if (!sc_is_token(e))
            return e.len ? "invalid option tag" : "empty option tag";
        sc_token_list_t *t = sc_pool_alloc(pool, sizeof(*t));
        if (t == NULL)
            return "out of memory";
        t->tok = e;
        **tail = t;
        *tail = &t->next;
    }
    return bad;
}

bool sc_token_list_has(const sc_token_list_t *l, const char *tok)
{
    for (; l; l = l->next)
        if (sc_str_caseeq_c(l->tok, tok))
            return true;
    return false;
}

static int month_index(sc_str_t m)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (m.len != 3)
        return -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(months + 3 * i, m.s, 3) == 0)
            return i;
    return -1;
}

static bool two_digits(const char *s, int *out)
{
    if (!sc_is((unsigned char)s[0], SC_C_DIGIT) || !sc_is((unsigned char)s[1], SC_C_DIGIT))
        return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

/* rfc1123-date = wkday "," SP date1 SP time SP "GMT"
 * e.g. "Sat, 13 Nov 2010 23:29:00 GMT" (29 octets exactly). */
const char *sc_date_parse(sc_str_t value, time_t *out)
{
    static const char wkdays[] = "MonTueWedThuFriSatSun";
    sc_str_t v = sc_trim(value);
    if (v.len != 29)
        return v.len > 26 && memcmp(v.s + 26, "GMT", 3) != 0 ? "time zone must be GMT"
                                                              : "malformed date";
    bool wk = false;
    for (int i = 0; i < 7; i++)
        wk |= memcmp(wkdays + 3 * i, v.s, 3) == 0;
    if (!wk || v.s[3] != ',' || v.s[4] != ' ' || v.s[7] != ' ' || v.s[11] != ' ' ||
        v.s[16] != ' ' || v.s[19] != ':' || v.s[22] != ':' || v.s[25] != ' ')
        return "malformed date";
    if (memcmp(v.s + 26, "GMT", 3) != 0)
        return "time zone must be GMT";
    struct tm tm = { 0 };
    int y1, y2;
    int mon = month_index(sc_str(v.s + 8, 3));
    if (mon < 0 || !two_digits(v.s + 5, &tm.tm_mday) || !two_digits(v.s + 12, &y1) ||
        !two_digits(v.s + 14, &y2) || !two_digits(v.s + 17, &tm.tm_hour) ||
        !two_digits(v.s + 20, &tm.tm_min) || !two_digits(v.s + 23, &tm.tm_sec))
        return "malformed date";
    if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return "date out of range";
    tm.tm_mon = mon;
    tm.tm_year = y1 * 100 + y2 - 1900;
    *out = timegm(&tm);
    return NULL;
}
