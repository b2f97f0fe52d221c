/*
 * msg_parse.c — reading a SIP message (RFC 3261 §7, §18.3, §25).
 *
 * One pass splits the start line and header lines (unfolding in place), a
 * second parses the typed headers the stack needs, then the message-level
 * rules are checked and the body is framed by Content-Length.  The first
 * defect found is reported with the status a UAS answers it with and a
 * reason naming it; parsing goes on past it where it can, so that a 400
 * can still be addressed with the Via, From, To, Call-ID and CSeq that did
 * parse.
 *
 * Line ends: CRLF is the rule; a bare LF is accepted as well (liberal
 * receiver; RFC 5118's archive is written that way).
 */
#include "msg_internal.h"

#include <stdarg.h>
#include <stdio.h>

const sc_parse_limits_t sc_parse_limits_default = {
    .max_size = 65535,      /* the largest UDP datagram */
    .max_headers = 256,
    .max_line = 16384,
};

static void fail(sc_parse_err_t *err, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(sc_parse_err_t *err, unsigned status, const char *fmt, ...)
{
    if (err->status)
        return;                 /* keep the first defect */
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
}

/* End of the line starting at p: *next is where the next line starts, the
 * return value is the line's length without CR LF.  NULL next: no LF. */
static size_t line_at(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (lf == NULL) {
        *next = NULL;
        return (size_t)(end - p);
    }
    *next = lf + 1;
    return (size_t)(lf - p) - (lf > p && lf[-1] == '\r');
}

/* Offset just past the empty line that ends the header section, or 0. */
static size_t header_end(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        if (lf == NULL)
            return 0;
        if (lf + 1 < end && lf[1] == '\n')
            return (size_t)(lf + 2 - buf);
        if (lf + 2 < end && lf[1] == '\r' && lf[2] == '\n')
            return (size_t)(lf + 3 - buf);
        p = lf + 1;
    }
    return 0;
}

/* A Content-Length value between s and e: digits with any LWS (SP, HTAB,
 * CR, LF of folding) around them. */
static bool cl_value(const char *s, const char *e, uint64_t *out)
{
    while (s < e && (sc_is_ws(*s) || *s == '\r' || *s == '\n'))
        s++;
    while (e > s && (sc_is_ws(e[-1]) || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    return sc_str_to_u64(sc_str(s, (size_t)(e - s)), SIZE_MAX >> 1, out);
}

long sc_msg_frame(const char *buf, size_t len, const sc_parse_limits_t *lim,
                  sc_parse_err_t *err)
{
    err->status = 0;
    err->reason[0] = '\0';
    size_t hend = header_end(buf, len);
    if (hend == 0) {
        if (len > lim->max_size) {
            fail(err, 513, "Message too large (limit %zu octets)", lim->max_size);
            return -1;
        }
        return 0;
    }
    /* Content-Length is mandatory on streams (RFC 3261 §18.3); it is found
     * here with a light scan, the full parse comes later. */
    bool have = false;
    uint64_t cl = 0;
    const char *p = buf, *end = buf + hend, *next;
    line_at(p, end, &next);                 /* skip the start line */
    for (p = next; p && p < end; p = next) {
        size_t n = line_at(p, end, &next);
        if (n == 0)
            break;
        if (sc_is_ws(p[0]))
            continue;       /* a continuation line is never a header name */
        const char *colon = memchr(p, ':', n);
        if (colon == NULL)
            continue;
        sc_str_t name = sc_trim(sc_str(p, (size_t)(colon - p)));
        if (sc_hdr_lookup(name.s, name.len) != SC_HDR_CONTENT_LENGTH)
            continue;
        /* the value may be folded over continuation lines */
        const char *vend = p + n;
        while (next && next < end && sc_is_ws(*next)) {
            const char *nn;
            vend = next + line_at(next, end, &nn);
            next = nn;
        }
        uint64_t v;
        if (!cl_value(colon + 1, vend, &v)) {
            fail(err, 400, "Content-Length is not a valid number");
            return -1;
        }
        if (have && v != cl) {
            fail(err, 400, "Conflicting Content-Length headers");
            return -1;
        }
        have = true;
        cl = v;
    }
    if (!have) {
        fail(err, 400, "Content-Length required on stream transport");
        return -1;
    }
    if (hend + cl > lim->max_size) {
        fail(err, 513, "Message too large (limit %zu octets)", lim->max_size);
        return -1;
    }
    return hend + cl <= len ? (long)(hend + cl) : 0;
}

/* "SIP/2.0", any case for the literal.  Returns 0 ok, 505 other version,
 * 400 not a version at all. */
static unsigned check_version(sc_str_t v)
{
    if (v.len < 7 || !sc_mem_caseeq(v.s, "SIP/", 4))
        return 400;
    sc_str_t num = sc_str(v.s + 4, v.len - 4);
    const char *dot = memchr(num.s, '.', num.len);
    if (dot == NULL || dot == num.s || dot == num.s + num.len - 1)
        return 400;
    for (size_t i = 0; i < num.len; i++)
        if (num.s + i != dot && !sc_is((unsigned char)num.s[i], SC_C_DIGIT))
            return 400;
    return sc_str_eq_c(num, "2.0") ? 0 : 505;
}

static void parse_status_line(sc_msg_t *m, sc_str_t line, sc_parse_err_t *err)
{
    m->is_request = false;
    const char *sp = memchr(line.s, ' ', line.len);
    m->version = sc_str(line.s, sp ? (size_t)(sp - line.s) : line.len);
    if (check_version(m->version)) {
        fail(err, 400, "Unsupported SIP version in status line");
        return;
    }
    if (sp == NULL) {
        fail(err, 400, "Status line has no status code");
        return;
    }
    sc_str_t rest = sc_str(sp + 1, line.len - m->version.len - 1);
    size_t n = sc_span(rest, SC_C_DIGIT);
    if (n != 3 || (rest.len > 3 && rest.s[3] != ' ')) {
        fail(err, 400, "Status code must be three digits");
        return;
    }
    m->status = (unsigned)((rest.s[0] - '0') * 100 + (rest.s[1] - '0') * 10 + (rest.s[2] - '0'));
    if (m->status < 100 || m->status > 699)
        fail(err, 400, "Status code out of range 100-699");
    /* "SIP/2.0 100" without the SP is tolerated (RFC 4475 §3.1.1.13). */
    m->reason = rest.len > 4 ? sc_str(rest.s + 4, rest.len - 4) : SC_STR_NULL;
}

static void parse_request_line(sc_msg_t *m, sc_str_t line, sc_parse_err_t *err)
{
    m->is_request = true;
    const char *sp1 = memchr(line.s, ' ', line.len);
    m->method_str = sc_str(line.s, sp1 ? (size_t)(sp1 - line.s) : line.len);
    if (!sc_is_token(m->method_str)) {
        fail(err, 400, "Malformed Request-Line: invalid method");
        return;
    }
    m->method = sc_method_from_str(m->method_str);
    if (sp1 == NULL) {
        fail(err, 400, "Request-Line has no Request-URI");
        return;
    }
    if (sc_is((unsigned char)line.s[line.len - 1], SC_C_WS)) {
        fail(err, 400, "Trailing whitespace in Request-Line");
        return;
    }
    sc_str_t rest = sc_str(sp1 + 1, line.len - m->method_str.len - 1);
    if (rest.len && sc_is((unsigned char)rest.s[0], SC_C_WS)) {
        fail(err, 400, "Extra whitespace in Request-Line");
        return;
    }
    const char *sp2 = memchr(rest.s, ' ', rest.len);
    if (sp2 == NULL) {
        fail(err, 400, "Request-Line has no SIP-Version");
        return;
    }
    m->ruri_str = sc_str(rest.s, (size_t)(sp2 - rest.s));
    m->version = sc_str(sp2 + 1, rest.len - m->ruri_str.len - 1);
    if (memchr(m->version.s, ' ', m->version.len) || memchr(m->version.s, '\t', m->version.len)) {
        fail(err, 400, "Whitespace inside Request-URI");
        return;
    }
    unsigned vs = check_version(m->version);
    if (vs == 505)
        fail(err, 505, "SIP version not supported");
    else if (vs)
        fail(err, 400, "Malformed SIP-Version in Request-Line");
    if (m->ruri_str.len && m->ruri_str.s[0] == '<') {
        fail(err, 400, "Request-URI must not be enclosed in <>");
        return;
    }
    const char *bad = sc_uri_parse(&m->ruri, m->ruri_str);
    if (bad)
        fail(err, 400, "Request-URI: %s", bad);
    else if (m->ruri.headers.len &&
             (m->ruri.scheme == SC_URI_SIP || m->ruri.scheme == SC_URI_SIPS))
        fail(err, 400, "Request-URI must not contain headers");
}

/* Splits the header section into the header list.  Returns the offset of
 * the body, or 0 when the section is not terminated by an empty line. */
static size_t split_headers(sc_msg_t *m, char *buf, size_t len, size_t pos,
                            const sc_parse_limits_t *lim, sc_parse_err_t *err)
{
    char *end = buf + len;
    sc_hdr_t *last_same[SC_HDR__COUNT];
    memset(last_same, 0, sizeof(last_same));
    char *p = buf + pos;

    while (p < end) {
        const char *next;
        size_t n = line_at(p, end, &next);
        if (n == 0 && next)                 /* the empty line */
            return (size_t)(next - buf);
        if (next == NULL) {
            fail(err, 400, "Header section not terminated by an empty line");
            return 0;
        }
        if (sc_is((unsigned char)p[0], SC_C_WS)) {
            fail(err, 400, "Header line starts with whitespace");
            return 0;
        }
        /* RFC 3261 §7.3.1: a line starting with SP/HTAB continues the
         * previous one.  Turning its CR LF into spaces keeps the value one
         * contiguous view. */
        while (next < end && sc_is((unsigned char)*next, SC_C_WS)) {
            char *lf = (char *)next - 1;
            *lf = ' ';
            if (lf > p && lf[-1] == '\r')
                lf[-1] = ' ';
            line_at(next, end, &next);
            if (next == NULL) {
                fail(err, 400, "Header section not terminated by an empty line");
                return 0;
            }
            n = (size_t)(next - 1 - p);
            if (n && p[n - 1] == '\r')
                n--;
        }
        if (n > lim->max_line) {
            fail(err, 400, "Header line too long (limit %zu octets)", lim->max_line);
            return 0;
        }
        if (++m->hdr_count > lim->max_headers) {
            fail(err, 400, "Too many header fields (limit %zu)", lim->max_headers);
            return 0;
        }
        sc_str_t line = sc_str(p, n);
        /* a bare CR (never legal, not even quoted: RFC 3261 §25.1) or a
         * NUL outside a quoted-pair (RFC 4475 intmeth has one inside) is
         * what no answer may repeat (a response copies Via, From, To and
         * Call-ID verbatim): the message is refused with 400, and the
         * octet becomes a space so that the 400 can still be addressed */
        for (char *q = memchr(p, '\r', n); q; q = memchr(q, '\r', n - (size_t)(q - p))) {
            fail(err, 400, "Bare CR in header \"%.*s\"", (int)sc_span(line, SC_C_TOKEN), p);
            *q = ' ';
        }
        for (char *q = memchr(p, '\0', n); q; q = memchr(q + 1, '\0', n - (size_t)(q + 1 - p))) {
            if (q > p && q[-1] == '\\')
                continue;
            fail(err, 400, "NUL in header \"%.*s\"", (int)sc_span(line, SC_C_TOKEN), p);
            *q = ' ';
        }
        size_t nl = sc_span(line, SC_C_TOKEN);
        if (nl == 0) {
            fail(err, 400, "Malformed header line: no header name");
            return 0;
        }
        sc_str_t rest = sc_skip_ws(sc_str(p + nl, n - nl));
        if (rest.len == 0 || rest.s[0] != ':') {
            fail(err, 400, "Malformed header line: no colon after \"%.*s\"",
                 (int)(nl > 40 ? 40 : nl), p);
            return 0;
        }
        sc_hdr_t *h = sc_pool_alloc_raw(m->pool, sizeof(*h));   /* every field set below */
        if (h == NULL) {
            fail(err, 500, "Out of memory");
            return 0;
        }
        h->next_same = NULL;
        h->name = sc_str(p, nl);
        h->value = sc_trim(sc_str(rest.s + 1, rest.len - 1));
        h->id = sc_hdr_lookup(p, nl);
        sc_msg_link_last(m, h);
        if (h->id != SC_HDR_OTHER) {
            if (last_same[h->id])
                last_same[h->id]->next_same = h;
            else
                m->hdr[h->id] = h;
            last_same[h->id] = h;
        }
        p = (char *)next;
    }
    fail(err, 400, "Header section not terminated by an empty line");
    return 0;
}

/* Tails of the typed lists while headers are being indexed. */
typedef struct {
    sc_via_t        **via;
    sc_addr_t       **contact, **route, **record_route;
    sc_token_list_t **require, **proxy_require, **supported;
    sc_digest_t     **authorization, **proxy_authorization;
} tails_t;

static void tails_init(sc_msg_t *m, tails_t *t)
{
    t->via = &m->via;
    t->contact = &m->contact;
    t->route = &m->route;
    t->record_route = &m->record_route;
    t->require = &m->require;
    t->proxy_require = &m->proxy_require;
    t->supported = &m->supported;
    t->authorization = &m->authorization;
    t->proxy_authorization = &m->proxy_authorization;
}

static const char *digest_append(sc_pool_t *pool, sc_str_t value, sc_digest_t ***tail)
{
    sc_digest_t *d = sc_pool_alloc(pool, sizeof(*d));
    if (d == NULL)
        return "out of memory";
    const char *bad = sc_digest_parse(d, value);
    if (bad)
        return bad;
    **tail = d;
    *tail = &d->next;
    return NULL;
}

static const char *single_addr(sc_msg_t *m, sc_addr_t **slot, sc_str_t value)
{
    if (*slot)
        return "header must appear only once";
    sc_addr_t *a = sc_pool_alloc_raw(m->pool, sizeof(*a));   /* cleared by the parser */
    if (a == NULL)
        return "out of memory";
    const char *bad = sc_addr_parse(a, value);
    if (bad == NULL)
        *slot = a;
    return bad;
}

/* Call-ID = word [ "@" word ] (RFC 3261 §25.1). */
static const char *call_id_check(sc_str_t v)
{
    if (v.len == 0)
        return "empty Call-ID";
    for (size_t i = 0; i < v.len; i++)
        if (!sc_is((unsigned char)v.s[i], SC_C_WORD) && v.s[i] != '@')
            return "invalid character in Call-ID";
    return NULL;
}

/* Parses the typed value of h into m.  Returns NULL or a reason. */
static const char *index_header(sc_msg_t *m, sc_hdr_t *h, tails_t *t)
{
    uint64_t n;
    const char *bad;
    switch (h->id) {
    case SC_HDR_VIA:
        return sc_via_parse(m->pool, h->value, &t->via);
    case SC_HDR_FROM:
        return single_addr(m, &m->from, h->value);
    case SC_HDR_TO:
        return single_addr(m, &m->to, h->value);
    case SC_HDR_CALL_ID:
        if (m->call_id.s)
            return "header must appear only once";
        if ((bad = call_id_check(h->value)) != NULL)
            return bad;
        m->call_id = h->value;
        return NULL;
    case SC_HDR_CSEQ:
        if (m->has_cseq)
            return "header must appear only once";
        if ((bad = sc_cseq_parse(&m->cseq, h->value)) != NULL)
            return bad;
        m->has_cseq = true;
        return NULL;
    case SC_HDR_MAX_FORWARDS:
        if (m->max_forwards >= 0)
            return "header must appear only once";
        if ((bad = sc_uint_parse(h->value, UINT32_MAX, &n)) != NULL)
            return bad;
        /* Larger than any hop count a proxy honours: clamp rather than
         * reject (RFC 4475 §3.1.2.4 allows treating it as absent). */
        m->max_forwards = n > 255 ? 255 : (int)n;
        return NULL;
    case SC_HDR_CONTACT:
        bad = sc_addr_list_parse(m->pool, h->value, true, &m->contact_star, &t->contact);
        if (bad == NULL && m->contact_star && (m->contact || h != m->hdr[SC_HDR_CONTACT] ||
                                                h->next_same))
            bad = "'*' must be the only Contact";
        return bad;
    case SC_HDR_ROUTE:
        return sc_addr_list_parse(m->pool, h->value, false, NULL, &t->route);
    case SC_HDR_RECORD_ROUTE:
        return sc_addr_list_parse(m->pool, h->value, false, NULL, &t->record_route);
    case SC_HDR_CONTENT_LENGTH:
        if (sc_uint_parse(h->value, SIZE_MAX >> 1, &n) != NULL)
            return "not a valid number";
        if (m->has_content_length && n != m->content_length)
            return "conflicting values";
        m->has_content_length = true;
        m->content_length = (size_t)n;
        return NULL;
    case SC_HDR_CONTENT_TYPE:
        if (m->has_content_type)
            return "header must appear only once";
        if ((bad = sc_ctype_parse(&m->content_type, h->value)) != NULL)
            return bad;
        m->has_content_type = true;
        return NULL;
    case SC_HDR_EXPIRES:
        if (m->has_expires)
            return NULL;
        if ((bad = sc_delta_seconds_parse(h->value, &m->expires)) != NULL)
            return bad;
        m->has_expires = true;
        return NULL;
    case SC_HDR_REQUIRE:
        return sc_token_list_parse(m->pool, h->value, &t->require);
    case SC_HDR_PROXY_REQUIRE:
        return sc_token_list_parse(m->pool, h->value, &t->proxy_require);
    case SC_HDR_SUPPORTED:
        return sc_token_list_parse(m->pool, h->value, &t->supported);
    case SC_HDR_AUTHORIZATION:
        return digest_append(m->pool, h->value, &t->authorization);
    case SC_HDR_PROXY_AUTHORIZATION:
        return digest_append(m->pool, h->value, &t->proxy_authorization);
    default:
        return NULL;
    }
}

static void check_message(sc_msg_t *m, sc_parse_err_t *err)
{
    static const sc_hdr_id_t required[] = {
        SC_HDR_VIA, SC_HDR_FROM, SC_HDR_TO, SC_HDR_CALL_ID, SC_HDR_CSEQ,
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (m->hdr[required[i]] == NULL)
            fail(err, 400, "Missing %s header", sc_hdr_name(required[i]));
    if (m->is_request && m->has_cseq && !sc_str_eq(m->cseq.method_str, m->method_str)) {
        /* An extension method we do not know gets 501, which RFC 4475
         * §3.1.2.18 prefers; a known one is simply malformed. */
        fail(err, m->method == SC_METHOD_OTHER ? 501 : 400,
             "CSeq method does not match request method");
    }
}

void sc_msg_free(sc_msg_t *msg)
{
    if (msg)
        sc_pool_destroy(msg->pool);
}

int sc_msg_parse(sc_msg_t **out, char *buf, size_t len, sc_framing_t framing,
                 const sc_parse_limits_t *lim, sc_parse_err_t *err)
{
    *out = NULL;
    err->status = 0;
    err->reason[0] = '\0';
    if (lim == NULL)
        lim = &sc_parse_limits_default;
    /* Over the size limit is the first defect, but the header section is
     * still read so that the 513 can be addressed. */
    if (len > lim->max_size)
        fail(err, 513, "Message too large (limit %zu octets)", lim->max_size);
    /* Leading CRLFs before the start line are ignored (RFC 3261 §7.5). */
    size_t pos = 0;
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
        pos++;
    if (pos == len) {
        fail(err, 400, "Empty message");
        return -1;
    }
    if (err->status == 513 && !memchr(buf, '\n', len)) /* not even a line */
        return -1;
    sc_pool_t *pool = sc_pool_create(4096 - 64);
    if (pool == NULL) {
        fail(err, 500, "Out of memory");
        return -1;
    }
    sc_msg_t *m = sc_pool_alloc(pool, sizeof(*m));
    m->pool = pool;
    m->buf = buf;
    m->len = len;
    m->max_forwards = -1;

    const char *next;
    size_t n = line_at(buf + pos, buf + len, &next);
    if (next == NULL) {
        fail(err, 400, "Message has no header section");
        sc_msg_free(m);
        return -1;
    }
    if (n > lim->max_line) {
        fail(err, 400, "Start line too long (limit %zu octets)", lim->max_line);
        sc_msg_free(m);
        return -1;
    }
    sc_str_t line = sc_str(buf + pos, n);
    if (n >= 4 && memcmp(line.s, "SIP/", 4) == 0)
        parse_status_line(m, line, err);
    else
        parse_request_line(m, line, err);

    size_t body = split_headers(m, buf, len, (size_t)(next - buf), lim, err);
    if (body == 0) {
        /* Without a whole header section nothing can be trusted, not even
         * for addressing an answer. */
        sc_msg_free(m);
        return -1;
    }
    *out = m;

    tails_t t;
    tails_init(m, &t);
    for (sc_hdr_t *h = m->hdr_first; h; h = h->next) {
        if (h->id == SC_HDR_OTHER)
            continue;
        const char *bad = index_header(m, h, &t);
        if (bad)
            fail(err, 400, "%s: %s", sc_hdr_name(h->id), bad);
    }
    check_message(m, err);

    size_t avail = len - body;
    if (m->has_content_length) {
        if (m->content_length > avail)
            fail(err, 400, framing == SC_TRANSPORT_DGRAM ? "Content-Length exceeds datagram"
                                                         : "Content-Length exceeds message");
        else
            /* Octets past Content-Length in a datagram are ignored
             * (RFC 3261 §18.3, RFC 4475 dblreq). */
            m->body = sc_str(buf + body, m->content_length);
    } else if (framing == SC_TRANSPORT_STREAM) {
        fail(err, 400, "Content-Length required on stream transport");
    } else {
        m->body = sc_str(buf + body, avail);    /* RFC 2543 style (inv2543) */
    }
    return err->status ? -1 : 0;
}

/* See msg_internal.h; used after the builder changed the header list. */
const char *sc_msg_reindex(sc_msg_t *m, sc_hdr_id_t id)
{
    switch (id) {
    case SC_HDR_VIA: m->via = NULL; break;
    case SC_HDR_FROM: m->from = NULL; break;
    case SC_HDR_TO: m->to = NULL; break;
    case SC_HDR_CALL_ID: m->call_id = SC_STR_NULL; break;
    case SC_HDR_CSEQ: m->has_cseq = false; break;
    case SC_HDR_MAX_FORWARDS: m->max_forwards = -1; break;
    case SC_HDR_CONTACT: m->contact = NULL; m->contact_star = false; break;
    case SC_HDR_ROUTE: m->route = NULL; break;
    case SC_HDR_RECORD_ROUTE: m->record_route = NULL; break;
    case SC_HDR_CONTENT_LENGTH: m->has_content_length = false; break;
    case SC_HDR_CONTENT_TYPE: m->has_content_type = false; break;
    case SC_HDR_EXPIRES: m->has_expires = false; break;
    case SC_HDR_REQUIRE: m->require = NULL; break;
    case SC_HDR_PROXY_REQUIRE: m->proxy_require = NULL; break;
    case SC_HDR_SUPPORTED: m->supported = NULL; break;
    case SC_HDR_AUTHORIZATION: m->authorization = NULL; break;
    case SC_HDR_PROXY_AUTHORIZATION: m->proxy_authorization = NULL; break;
    default: return NULL;
    }
    tails_t t;
    tails_init(m, &t);
    for (sc_hdr_t *h = m->hdr[id]; h; h = h->next_same) {
        const char *bad = index_header(m, h, &t);
        if (bad)
            return bad;
    }
    return NULL;
}
