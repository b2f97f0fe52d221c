/*
 * uri_compare.c — RFC 3261 §19.1.4 URI comparison.
 *
 * Components are compared unit by unit, where a unit is one octet: an
 * escape "%HH" of a character outside the reserved set equals that
 * character, while an escaped reserved character stays distinct from the
 * literal one ("Characters other than those in the reserved set are
 * equivalent to their %HH encoding").
 */
#include "sip_uri.h"

#include <arpa/inet.h>

/* RFC 2396 reserved = ; / ? : @ & = + $ , */
static bool is_reserved(unsigned char c)
{
    return c && strchr(";/?:@&=+$,", c) != NULL;
}

/* Next unit of v at *i: the octet and whether it stays escaped. */
static unsigned next_unit(sc_str_t v, size_t *i, bool *escaped)
{
    unsigned char c = (unsigned char)v.s[*i];
    *escaped = false;
    if (c == '%' && *i + 2 < v.len) {
        int h = sc_hexval((unsigned char)v.s[*i + 1]);
        int l = sc_hexval((unsigned char)v.s[*i + 2]);
        if (h >= 0 && l >= 0) {
            c = (unsigned char)(h * 16 + l);
            *i += 3;
            *escaped = is_reserved(c);
            return c;
        }
    }
    (*i)++;
    return c;
}

static bool comp_eq(sc_str_t a, sc_str_t b, bool nocase)
{
    size_t i = 0, j = 0;
    while (i < a.len && j < b.len) {
        bool ea, eb;
        unsigned ca = next_unit(a, &i, &ea), cb = next_unit(b, &j, &eb);
        if (nocase) {
            ca = sc_lower((unsigned char)ca);
            cb = sc_lower((unsigned char)cb);
        }
        if (ca != cb || ea != eb)
            return false;
    }
    return i == a.len && j == b.len;
}

static bool host_eq(const sc_uri_t *a, const sc_uri_t *b)
{
    if (a->host_ipv6 != b->host_ipv6)
        return false;
    if (a->host_ipv6) {
        char sa[64], sb[64];
        unsigned char na[16], nb[16];
        if (a->host.len < sizeof(sa) && b->host.len < sizeof(sb)) {
            memcpy(sa, a->host.s, a->host.len);
            sa[a->host.len] = '\0';
            memcpy(sb, b->host.s, b->host.len);
            sb[b->host.len] = '\0';
            if (inet_pton(AF_INET6, sa, na) == 1 && inet_pton(AF_INET6, sb, nb) == 1)
                return memcmp(na, nb, 16) == 0;
        }
    }
    return sc_str_caseeq(a->host, b->host);
}

/* Parameters that must match when present in only one URI (§19.1.4). */
static bool param_must_match(sc_str_t name)
{
    static const char *const names[] = { "user", "ttl", "method", "maddr", "transport" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (comp_eq(name, sc_str_cstr(names[i]), true))
            return true;
    return false;
}

static bool find_param(sc_str_t params, sc_str_t name, sc_str_t *value)
{
    sc_str_t n, v;
    while (sc_uri_param_next(&params, &n, &v) == 1)
        if (comp_eq(n, name, true)) {
            *value = v;
            return true;
        }
    return false;
}

/* Every parameter of a that b also has matches; the must-match ones are in
 * both.  Called both ways round.  A name repeated in one URI counts by its
 * first occurrence only, the same one find_param() picks, so that equality
 * stays reflexive and symmetric. */
static bool params_one_way(sc_str_t a, sc_str_t b)
{
    sc_str_t all = a, n, v, bv, first;
    while (sc_uri_param_next(&a, &n, &v) == 1) {
        if (find_param(all, n, &first) && first.s != v.s)
            continue;
        if (!find_param(b, n, &bv)) {
            if (param_must_match(n))
                return false;
            continue;
        }
        if ((v.s == NULL) != (bv.s == NULL))
            return false;
        if (v.s && !comp_eq(v, bv, true))
            return false;
    }
    return true;
}

/* Header components are never ignored: each header of a must be in b with
 * the same value. */
static bool headers_one_way(sc_str_t a, sc_str_t b)
{
    if (a.len == 0)
        return true;
    if (b.len == 0)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= a.len; i++) {
        if (i < a.len && a.s[i] != '&')
            continue;
        sc_str_t item = sc_str(a.s + start, i - start);
        bool found = false;
        size_t bs = 0;
        for (size_t j = 0; j <= b.len && !found; j++) {
            if (j < b.len && b.s[j] != '&')
                continue;
            found = comp_eq(item, sc_str(b.s + bs, j - bs), true);
            bs = j + 1;
        }
        if (!found)
            return false;
        start = i + 1;
    }
    return true;
}

bool sc_uri_equal(const sc_uri_t *a, const sc_uri_t *b)
{
    if (a->scheme != b->scheme)
        return false;
    if (a->scheme != SC_URI_SIP && a->scheme != SC_URI_SIPS) {
        if (a->scheme == SC_URI_TEL)
            return comp_eq(a->user, b->user, true) &&
                   params_one_way(a->params, b->params) &&
                   params_one_way(b->params, a->params);
        return sc_str_caseeq(a->scheme_str, b->scheme_str) &&
               sc_str_eq(a->opaque, b->opaque);
    }
    if (a->has_user != b->has_user || a->has_password != b->has_password)
        return false;
    if (!comp_eq(a->user, b->user, false) || !comp_eq(a->password, b->password, false))
        return false;
    if (!host_eq(a, b) || a->port != b->port)
        return false;
    if (!params_one_way(a->params, b->params) || !params_one_way(b->params, a->params))
        return false;
    return headers_one_way(a->headers, b->headers) &&
           headers_one_way(b->headers, a->headers);
}
