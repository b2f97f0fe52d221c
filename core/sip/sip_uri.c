/*
 * sip_uri.c — URI parsing (RFC 3261 §19.1.1, §25.1; RFC 3966 for tel).
 *
 * The parser is strict about the characters each component may hold and
 * liberal where RFC 4475 / RFC 5118 say to be: any transport token, IPv6
 * references with the three-colon form RFC 3261's ABNF allows (RFC 5118
 * §4.10), '[' ']' kept apart from the port (§4.3, §4.4).
 */
#include "sip_uri.h"

#include <arpa/inet.h>

/* '%' HEX HEX at v.s[i]? */
static bool escape_at(sc_str_t v, size_t i)
{
    return v.s[i] == '%' && i + 2 < v.len &&
           sc_hexval((unsigned char)v.s[i + 1]) >= 0 &&
           sc_hexval((unsigned char)v.s[i + 2]) >= 0;
}

/* Every octet of v is in class cls or is a valid escape. */
static bool all_chars(sc_str_t v, unsigned cls)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.s[i];
        if (sc_is(c, cls))
            continue;
        if (c == '%' && escape_at(v, i)) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

size_t sc_uri_unescape(sc_str_t v, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.s[i] == '%') {
            if (!escape_at(v, i))
                return (size_t)-1;
            out[o++] = (char)(sc_hexval((unsigned char)v.s[i + 1]) * 16 +
                              sc_hexval((unsigned char)v.s[i + 2]));
            i += 2;
        } else {
            out[o++] = v.s[i];
        }
    }
    return o;
}

int sc_uri_param_next(sc_str_t *params, sc_str_t *name, sc_str_t *value)
{
    sc_str_t p = *params;
    if (p.len == 0)
        return 0;
    if (p.s[0] == ';') {        /* exactly one: ";;" yields an empty name */
        p.s++;
        p.len--;
    }
    const char *semi = memchr(p.s, ';', p.len);
    size_t end = semi ? (size_t)(semi - p.s) : p.len;
    sc_str_t item = sc_str(p.s, end);
    const char *eq = memchr(item.s, '=', item.len);
    if (eq) {
        *name = sc_str(item.s, (size_t)(eq - item.s));
        *value = sc_str(eq + 1, item.len - name->len - 1);
    } else {
        *name = item;
        *value = SC_STR_NULL;
    }
    *params = sc_str(p.s + end, p.len - end);
    return 1;
}

/* Escaped text equals a lower-case literal, decoding %HH on the way
 * (RFC 4475 esc01 writes "lr" as "%6C%72"). */
static bool esc_caseeq(sc_str_t v, const char *lit)
{
    size_t i = 0, j = 0;
    for (; i < v.len; i++, j++) {
        unsigned char c = (unsigned char)v.s[i];
        if (c == '%' && escape_at(v, i)) {
            c = (unsigned char)(sc_hexval((unsigned char)v.s[i + 1]) * 16 +
                                sc_hexval((unsigned char)v.s[i + 2]));
            i += 2;
        }
        if (lit[j] == '\0' || sc_lower(c) != (unsigned char)lit[j])
            return false;
    }
    return lit[j] == '\0';
}

/* Which well-known uri-parameter a name is: -1 for none.  Names without
 * escapes are matched by length and one case-folding compare; escaped
 * ones ("%6C%72" is lr, RFC 4475 esc01) are decoded on the way. */
enum { P_LR, P_TRANSPORT, P_MADDR, P_USER, P_METHOD, P_TTL };

static int known_param(sc_str_t name, bool escaped)
{
    static const char *const names[] = { "lr", "transport", "maddr", "user", "method", "ttl" };
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(names[i]);
        if (escaped ? esc_caseeq(name, names[i]) : sc_token_eq_lc(name, names[i], n))
            return i;
    }
    return -1;
}

static const char *parse_params(sc_uri_t *u)
{
    sc_str_t p = u->params, name, value;
    while (sc_uri_param_next(&p, &name, &value) == 1) {
        if (name.len == 0)
            return "empty URI parameter";
        if (!all_chars(name, SC_C_UNRES | SC_C_PARAM))
            return "invalid URI parameter name";
        if (value.s && (value.len == 0 || !all_chars(value, SC_C_UNRES | SC_C_PARAM)))
            return "invalid URI parameter value";
        bool escaped = memchr(name.s, '%', name.len) != NULL;
        if (!escaped && (name.len < 2 || name.len > 9))
            continue;
        switch (known_param(name, escaped)) {
        case P_LR: u->lr = true; break;
        case P_TRANSPORT: if (value.s) u->transport = value; break;
        case P_MADDR: if (value.s) u->maddr = value; break;
        case P_USER: if (value.s) u->user_param = value; break;
        case P_METHOD: if (value.s) u->method_param = value; break;
        case P_TTL: if (value.s) u->ttl = value; break;
        default: break;
        }
    }
    return NULL;
}

static const char *parse_headers(sc_uri_t *u)
{
    sc_str_t h = u->headers;
    size_t start = 0;
    for (size_t i = 0; i <= h.len; i++) {
        if (i < h.len && h.s[i] != '&')
            continue;
        sc_str_t item = sc_str(h.s + start, i - start);
        const char *eq = memchr(item.s, '=', item.len);
        if (item.len == 0 || eq == NULL || eq == item.s)
            return "invalid URI header";
        sc_str_t hn = sc_str(item.s, (size_t)(eq - item.s));
        sc_str_t hv = sc_str(eq + 1, item.len - hn.len - 1);
        if (!all_chars(hn, SC_C_UNRES | SC_C_HNV) ||
            !all_chars(hv, SC_C_UNRES | SC_C_HNV))
            return "invalid character in URI header";
        start = i + 1;
    }
    return NULL;
}

/* IPv6 reference content: hex digits, ':' and '.' for an embedded IPv4,
 * at least two colons.  inet_pton would refuse the RFC 3261 three-colon
 * form that RFC 5118 §4.10 says we must tolerate, so this stays lexical. */
static bool ipv6_text_ok(sc_str_t v)
{
    unsigned colons = 0;
    if (v.len < 2 || v.len > 45)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.s[i];
        if (c == ':')
            colons++;
        else if (!sc_is(c, SC_C_HEX) && c != '.')
            return false;
    }
    return colons >= 2;
}

static const char *parse_port(sc_str_t v, uint16_t *port)
{
    uint64_t n;
    if (memchr(v.s, ':', v.len))
        return "IPv6 address must be enclosed in []";
    if (v.len > 5 || !sc_str_to_u64(v, 65535, &n) || n == 0)
        return "invalid port";
    *port = (uint16_t)n;
    return NULL;
}

/* host [":" port] followed by end, ';' or '?'.  Returns the length used. */
static const char *parse_hostport(sc_uri_t *u, sc_str_t v, size_t *used)
{
    size_t i = 0;
    if (v.len && v.s[0] == '[') {
        const char *close = memchr(v.s, ']', v.len);
        if (close == NULL)
            return "'[' without ']' in URI host";
        u->host = sc_str(v.s + 1, (size_t)(close - v.s) - 1);
        if (!ipv6_text_ok(u->host))
            return "invalid IPv6 reference";
        u->host_ipv6 = true;
        i = (size_t)(close - v.s) + 1;
    } else {
        i = sc_span(v, SC_C_HOST);
        if (i == 0)
            return "URI has no host";
        u->host = sc_str(v.s, i);
    }
    if (i < v.len && v.s[i] == ':') {
        size_t p = i + 1;
        while (p < v.len && v.s[p] != ';' && v.s[p] != '?')
            p++;
        const char *bad = parse_port(sc_str(v.s + i + 1, p - i - 1), &u->port);
        if (bad)
            return bad;
        i = p;
    }
    if (i < v.len && v.s[i] != ';' && v.s[i] != '?')
        return "invalid character in URI host";
    *used = i;
    return NULL;
}

static const char *parse_sip(sc_uri_t *u, sc_str_t v)
{
    /* userinfo ends at the first '@'; its user part may hold ';' and '?'
     * (RFC 4475 semiuri), so '@' is found before params are split off. */
    const char *at = memchr(v.s, '@', v.len);
    if (at) {
        sc_str_t ui = sc_str(v.s, (size_t)(at - v.s));
        const char *colon = memchr(ui.s, ':', ui.len);
        u->has_user = true;
        u->user = colon ? sc_str(ui.s, (size_t)(colon - ui.s)) : ui;
        if (colon) {
            u->has_password = true;
            u->password = sc_str(colon + 1, ui.len - u->user.len - 1);
            if (!all_chars(u->password, SC_C_UNRES | SC_C_PASS))
                return "invalid character in URI password";
        }
        if (!all_chars(u->user, SC_C_UNRES | SC_C_USER))
            return "invalid character in URI user part";
        v = sc_str(at + 1, v.len - ui.len - 1);
    }
    size_t used;
    const char *bad = parse_hostport(u, v, &used);
    if (bad)
        return bad;
    v = sc_str(v.s + used, v.len - used);
    const char *q = memchr(v.s, '?', v.len);
    size_t plen = q ? (size_t)(q - v.s) : v.len;
    u->params = sc_str(v.s, plen);
    if (q)
        u->headers = sc_str(q + 1, v.len - plen - 1);
    if (u->params.len && (bad = parse_params(u)) != NULL)
        return bad;
    if (q && (bad = parse_headers(u)) != NULL)
        return bad;
    return NULL;
}

/* RFC 3966 telephone-subscriber: the number up to the first ';', then
 * parameters. */
static const char *parse_tel(sc_uri_t *u, sc_str_t v)
{
    const char *semi = memchr(v.s, ';', v.len);
    sc_str_t num = sc_str(v.s, semi ? (size_t)(semi - v.s) : v.len);
    if (num.len == 0)
        return "tel URI has no number";
    for (size_t i = 0; i < num.len; i++) {
        unsigned char c = (unsigned char)num.s[i];
        if (!(sc_is(c, SC_C_HEX) || c == '+' || c == '-' || c == '.' ||
              c == '(' || c == ')' || c == '*' || c == '#' || c == '%'))
            return "invalid character in tel URI number";
    }
    u->user = num;
    u->has_user = true;
    u->params = sc_str(num.s + num.len, v.len - num.len);
    return u->params.len ? parse_params(u) : NULL;
}

/* Octets that may appear anywhere in a URI: visible ASCII but <, > and ". */
static bool uri_ok[256];

__attribute__((constructor)) static void uri_init(void)
{
    for (int c = 0x21; c < 0x7f; c++)
        uri_ok[c] = c != '<' && c != '>' && c != '"';
}

const char *sc_uri_parse(sc_uri_t *u, sc_str_t text)
{
    memset(u, 0, sizeof(*u));
    u->raw = text;
    const unsigned char *t = (const unsigned char *)text.s;
    size_t i = 0;
    /* four octets a step through the common case of nothing to report */
    while (i + 4 <= text.len && (uri_ok[t[i]] & uri_ok[t[i + 1]] & uri_ok[t[i + 2]] & uri_ok[t[i + 3]]))
        i += 4;
    for (; i < text.len; i++) {
        unsigned char c = t[i];
        if (uri_ok[c])
            continue;
        if (c <= ' ' || c >= 0x7f)
            return c == ' ' || c == '\t' ? "whitespace inside URI"
                                         : "invalid character in URI";
        if (c == '<' || c == '>' || c == '"')
            return "invalid character in URI";
    }
    size_t n = text.len && sc_is((unsigned char)text.s[0], SC_C_HOST) &&
               !sc_is((unsigned char)text.s[0], SC_C_DIGIT)
                   ? sc_span(text, SC_C_SCHEME) : 0;
    if (n == 0 || n == text.len || text.s[n] != ':')
        return "URI has no scheme";
    u->scheme_str = sc_str(text.s, n);
    sc_str_t rest = sc_str(text.s + n + 1, text.len - n - 1);
    if (sc_str_caseeq_c(u->scheme_str, "sip"))
        u->scheme = SC_URI_SIP;
    else if (sc_str_caseeq_c(u->scheme_str, "sips"))
        u->scheme = SC_URI_SIPS;
    else if (sc_str_caseeq_c(u->scheme_str, "tel"))
        u->scheme = SC_URI_TEL;
    else {
        u->opaque = rest;
        return rest.len ? NULL : "URI has nothing after the scheme";
    }
    if (rest.len == 0)
        return "URI has nothing after the scheme";
    return u->scheme == SC_URI_TEL ? parse_tel(u, rest) : parse_sip(u, rest);
}
