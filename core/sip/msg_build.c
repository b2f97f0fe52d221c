/*
 * msg_build.c — making and editing messages, and writing them out.
 *
 * Built and parsed messages are the same structure: a header list whose
 * views point into the receive buffer or into the message's pool.  Every
 * edit copies the new text into the pool and refreshes the typed view of
 * that header, so a module can never leave msg->via and the Via lines
 * disagreeing.
 */
#include "msg_internal.h"

#include <stdio.h>

static sc_str_t dup(sc_msg_t *m, sc_str_t v)
{
    char *p = sc_pool_memdup(m->pool, v.s ? v.s : "", v.len);
    return p ? sc_str(p, v.len) : SC_STR_NULL;
}

static sc_msg_t *msg_new(void)
{
    sc_pool_t *pool = sc_pool_create(4096 - 64);
    if (pool == NULL)
        return NULL;
    sc_msg_t *m = sc_pool_alloc(pool, sizeof(*m));
    m->pool = pool;
    m->max_forwards = -1;
    m->version = SC_STR_LIT("SIP/2.0");
    return m;
}

sc_msg_t *sc_msg_new_request(sc_method_t method, sc_str_t method_str, sc_str_t ruri)
{
    sc_msg_t *m = msg_new();
    if (m == NULL)
        return NULL;
    m->is_request = true;
    if (method != SC_METHOD_OTHER)
        method_str = sc_str_cstr(sc_method_name(method));
    m->method_str = dup(m, method_str);
    m->method = sc_method_from_str(m->method_str);
    const char *bad;
    if (m->method_str.s == NULL || !sc_is_token(m->method_str) ||
        sc_msg_set_ruri(m, ruri, &bad) != 0) {
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

sc_msg_t *sc_msg_new_response(unsigned status, sc_str_t reason)
{
    if (status < 100 || status > 699)
        return NULL;
    sc_msg_t *m = msg_new();
    if (m == NULL)
        return NULL;
    m->status = status;
    m->reason = dup(m, reason.len ? reason : sc_str_cstr(sc_reason_phrase(status)));
    return m;
}

int sc_msg_set_ruri(sc_msg_t *m, sc_str_t ruri, const char **bad)
{
    sc_str_t copy = dup(m, ruri);
    sc_uri_t u;
    if (copy.s == NULL) {
        *bad = "out of memory";
        return -1;
    }
    if ((*bad = sc_uri_parse(&u, copy)) != NULL)
        return -1;
    m->ruri_str = copy;
    m->ruri = u;
    return 0;
}

static void relink_same(sc_msg_t *m, sc_hdr_id_t id)
{
    sc_hdr_t *last = NULL;
    m->hdr[id] = NULL;
    for (sc_hdr_t *h = m->hdr_first; h; h = h->next) {
        if (h->id != id)
            continue;
        h->next_same = NULL;
        if (last)
            last->next_same = h;
        else
            m->hdr[id] = h;
        last = h;
    }
}

/* Parses a value as header id would be parsed, on a scratch message, so an
 * edit can be refused before anything in the real message changes. */
static const char *validate(sc_hdr_id_t id, sc_str_t value)
{
    sc_msg_t *scratch = msg_new();
    if (scratch == NULL)
        return "out of memory";
    sc_hdr_t h = { .id = id, .value = value };
    scratch->hdr_first = scratch->hdr_last = scratch->hdr[id] = &h;
    const char *bad = sc_msg_reindex(scratch, id);
    sc_msg_free(scratch);
    return bad;
}

/* verbatim: copy a header from another message as it is, even if its
 * value does not parse (a response must echo the request's Via, RFC 3261
 * §8.2.6.2, and a 400 answers exactly such requests); its typed view is
 * then left empty. */
static int insert_hdr(sc_msg_t *m, sc_str_t name, sc_str_t value, bool first, bool verbatim,
                      const char **bad)
{
    const char *dummy;
    if (bad == NULL)
        bad = &dummy;
    *bad = NULL;
    name = sc_trim(name);
    if (!sc_is_token(name)) {
        *bad = "invalid header name";
        return -1;
    }
    for (size_t i = 0; i < value.len; i++)
        if (value.s[i] == '\r' || value.s[i] == '\n') {
            if (!verbatim) {
                *bad = "header value must not contain CR or LF";
                return -1;
            }
            /* echoing a request that carried one (the 400 that refuses
             * it): as a space, which cannot end the line early */
            char *v = sc_pool_alloc(m->pool, value.len);
            if (v == NULL) {
                *bad = "out of memory";
                return -1;
            }
            for (size_t k = 0; k < value.len; k++)
                v[k] = value.s[k] == '\r' || value.s[k] == '\n' ? ' ' : value.s[k];
            value = sc_str(v, value.len);
            break;
        }
    sc_hdr_id_t id = sc_hdr_lookup(name.s, name.len);
    value = sc_trim(value);
    if (!verbatim && id != SC_HDR_OTHER && (*bad = validate(id, value)) != NULL)
        return -1;
    sc_hdr_t *h = sc_pool_alloc(m->pool, sizeof(*h));
    if (h == NULL) {
        *bad = "out of memory";
        return -1;
    }
    h->id = id;
    h->name = dup(m, name);
    h->value = dup(m, value);
    if (h->name.s == NULL || h->value.s == NULL) {
        *bad = "out of memory";
        return -1;
    }
    if (first) {
        h->next = m->hdr_first;
        if (m->hdr_first)
            m->hdr_first->prev = h;
        else
            m->hdr_last = h;
        m->hdr_first = h;
    } else {
        sc_msg_link_last(m, h);
    }
    m->hdr_count++;
    if (h->id != SC_HDR_OTHER) {
        relink_same(m, h->id);
        if ((*bad = sc_msg_reindex(m, h->id)) != NULL && !verbatim) {
            sc_msg_unlink_header(m, h);
            return -1;
        }
    }
    return 0;
}

static int insert(sc_msg_t *m, sc_str_t name, sc_str_t value, bool first, const char **bad)
{
    return insert_hdr(m, name, value, first, false, bad);
}

int sc_msg_add_header(sc_msg_t *m, sc_str_t name, sc_str_t value, const char **bad)
{
    return insert(m, name, value, false, bad);
}

int sc_msg_add_header_first(sc_msg_t *m, sc_str_t name, sc_str_t value, const char **bad)
{
    return insert(m, name, value, true, bad);
}

void sc_msg_unlink_header(sc_msg_t *m, sc_hdr_t *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        m->hdr_first = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        m->hdr_last = h->prev;
    h->next = h->prev = NULL;
    m->hdr_count--;
    if (h->id != SC_HDR_OTHER) {
        relink_same(m, h->id);
        sc_msg_reindex(m, h->id);   /* the rest parsed before, still does */
    }
}

int sc_msg_pop_route(sc_msg_t *m)
{
    sc_hdr_t *h = m->hdr[SC_HDR_ROUTE];
    const sc_addr_t *top = m->route;
    if (h == NULL || top == NULL)
        return -1;
    /* the next value, when it is on the same row, starts what remains */
    const char *next = top->next ? top->next->raw.s : NULL;
    if (next && next > h->value.s && next < h->value.s + h->value.len) {
        h->value = sc_str(next, (size_t)(h->value.s + h->value.len - next));
        sc_msg_reindex(m, SC_HDR_ROUTE);
    } else {
        sc_msg_unlink_header(m, h);
    }
    return 0;
}

static bool name_matches(const sc_hdr_t *h, sc_str_t name, sc_hdr_id_t id)
{
    return id != SC_HDR_OTHER ? h->id == id : sc_str_caseeq(h->name, name);
}

sc_hdr_t *sc_msg_find_header(const sc_msg_t *m, sc_str_t name)
{
    sc_hdr_id_t id = sc_hdr_lookup(name.s, name.len);
    if (id != SC_HDR_OTHER)
        return m->hdr[id];
    for (sc_hdr_t *h = m->hdr_first; h; h = h->next)
        if (name_matches(h, name, id))
            return h;
    return NULL;
}

int sc_msg_remove_header(sc_msg_t *m, sc_str_t name)
{
    sc_hdr_id_t id = sc_hdr_lookup(name.s, name.len);
    int n = 0;
    for (sc_hdr_t *h = m->hdr_first, *next; h; h = next) {
        next = h->next;
        if (name_matches(h, name, id)) {
            sc_msg_unlink_header(m, h);
            n++;
        }
    }
    return n;
}

int sc_msg_replace_header(sc_msg_t *m, sc_str_t name, sc_str_t value, const char **bad)
{
    sc_hdr_id_t id = sc_hdr_lookup(name.s, name.len);
    const char *dummy;
    if (bad == NULL)
        bad = &dummy;
    if (id != SC_HDR_OTHER && (*bad = validate(id, sc_trim(value))) != NULL)
        return -1;      /* refused before the old header is gone */
    sc_msg_remove_header(m, name);
    return insert(m, name, value, false, bad);
}

int sc_msg_set_body(sc_msg_t *m, sc_str_t content_type, sc_str_t body)
{
    sc_str_t b = dup(m, body);
    if (b.s == NULL)
        return -1;
    if (content_type.len) {
        if (sc_msg_replace_header(m, SC_STR_LIT("Content-Type"), content_type, NULL) != 0)
            return -1;
    } else if (body.len == 0) {
        sc_msg_remove_header(m, SC_STR_LIT("Content-Type"));
    }
    m->body = b;
    return 0;
}

/* Appends to out while there is room; always counts. */
typedef struct {
    char  *out;
    size_t cap, len;
} writer_t;

static void put(writer_t *w, const char *s, size_t n)
{
    if (n && w->len + n <= w->cap)   /* n == 0 may come with s == NULL */
        memcpy(w->out + w->len, s, n);
    w->len += n;
}

#define PUT_STR(w, v) put((w), (v).s, (v).len)
#define PUT_LIT(w, l) put((w), (l), sizeof(l) - 1)

size_t sc_msg_print(const sc_msg_t *m, char *out, size_t cap)
{
    writer_t w = { out, cap, 0 };
    char num[32];
    if (m->is_request) {
        PUT_STR(&w, m->method_str);
        PUT_LIT(&w, " ");
        PUT_STR(&w, m->ruri_str);
        PUT_LIT(&w, " SIP/2.0\r\n");
    } else {
        int n = snprintf(num, sizeof(num), "SIP/2.0 %03u ", m->status);
        put(&w, num, (size_t)n);
        PUT_STR(&w, m->reason);
        PUT_LIT(&w, "\r\n");
    }
    for (const sc_hdr_t *h = m->hdr_first; h; h = h->next) {
        if (h->id == SC_HDR_CONTENT_LENGTH)
            continue;
        PUT_STR(&w, h->name);
        PUT_LIT(&w, ": ");
        PUT_STR(&w, h->value);
        PUT_LIT(&w, "\r\n");
    }
    int n = snprintf(num, sizeof(num), "Content-Length: %zu\r\n\r\n", m->body.len);
    put(&w, num, (size_t)n);
    PUT_STR(&w, m->body);
    return w.len;           /* > cap: nothing usable was written */
}

sc_str_t sc_msg_serialize(const sc_msg_t *m)
{
    size_t need = sc_msg_print(m, NULL, 0);
    char *buf = sc_pool_alloc(m->pool, need + 1);
    if (buf == NULL)
        return SC_STR_NULL;
    sc_msg_print(m, buf, need);
    return sc_str(buf, need);
}

sc_msg_t *sc_msg_new_response_to(const sc_msg_t *req, unsigned status, sc_str_t reason,
                                 sc_str_t to_tag)
{
    sc_msg_t *m = sc_msg_new_response(status, reason);
    if (m == NULL)
        return NULL;
    for (const sc_hdr_t *h = req->hdr_first; h; h = h->next) {
        sc_str_t value = h->value;
        char *tagged = NULL;
        switch (h->id) {
        case SC_HDR_TO:
            if (status > 100 && to_tag.len && req->to && req->to->tag.len == 0) {
                size_t n = value.len + 5 + to_tag.len;
                tagged = sc_pool_alloc(m->pool, n + 1);
                if (tagged == NULL)
                    goto oom;
                snprintf(tagged, n + 1, "%.*s;tag=%.*s", SC_STR_FMT(value), SC_STR_FMT(to_tag));
                value = sc_str(tagged, n);
            }
            break;
        case SC_HDR_VIA: case SC_HDR_FROM: case SC_HDR_CALL_ID: case SC_HDR_CSEQ:
            break;
        case SC_HDR_TIMESTAMP:
            if (status == 100)
                break;      /* §8.2.6.1 */
            continue;
        default:
            continue;
        }
        if (insert_hdr(m, h->name, value, false, true, NULL) != 0)
            goto oom;
    }
    return m;
oom:
    sc_msg_free(m);
    return NULL;
}

const char *sc_reason_phrase(unsigned status)
{
    switch (status) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 181: return "Call Is Being Forwarded";
    case 182: return "Queued";
    case 183: return "Session Progress";
    case 199: return "Early Dialog Terminated";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Notification";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 305: return "Use Proxy";
    case 380: return "Alternative Service";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 412: return "Conditional Request Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Unsupported URI Scheme";
    case 420: return "Bad Extension";
    case 421: return "Extension Required";
    case 422: return "Session Interval Too Small";
    case 423: return "Interval Too Brief";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 482: return "Loop Detected";
    case 483: return "Too Many Hops";
    case 484: return "Address Incomplete";
    case 485: return "Ambiguous";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 488: return "Not Acceptable Here";
    case 489: return "Bad Event";
    case 491: return "Request Pending";
    case 493: return "Undecipherable";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Server Time-out";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    case 600: return "Busy Everywhere";
    case 603: return "Decline";
    case 604: return "Does Not Exist Anywhere";
    case 606: return "Not Acceptable";
    default:
        switch (status / 100) {
        case 1: return "Progress";
        case 2: return "OK";
        case 3: return "Redirection";
        case 4: return "Client Error";
        case 5: return "Server Error";
        default: return "Global Failure";
        }
    }
}

int sc_msg_stamp_via(sc_msg_t *m, const char *src_ip, uint16_t src_port)
{
    sc_hdr_t *h = m->hdr[SC_HDR_VIA];
    const sc_via_t *v = m->via;
    if (h == NULL || v == NULL)
        return 0;
    bool need_received = v->has_rport || !sc_str_eq_c(v->host, src_ip);
    /* nothing to add: not needed, or stamped already (requests are
     * stamped as they arrive; their answers come here again) */
    if ((!need_received || sc_str_eq_c(v->received, src_ip)) && (!v->has_rport || v->rport.len > 0))
        return 0;
    size_t iplen = strlen(src_ip);
    size_t cap = h->value.len + iplen + 40;
    char *out = sc_pool_alloc(m->pool, cap);
    if (out == NULL)
        return -1;
    /* the element up to its parameters, then each parameter again */
    size_t n = (size_t)(v->params.s - v->raw.s);
    memcpy(out, v->raw.s, n);
    sc_str_t p = v->params, name, value;
    const char *bad;
    while (sc_param_next(&p, &name, &value, &bad) == 1) {
        if (SC_TOKEN_IS(name, "received"))
            continue;
        if (SC_TOKEN_IS(name, "rport") && value.s == NULL) {
            n += (size_t)snprintf(out + n, cap - n, ";rport=%u", src_port);
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, ";%.*s", SC_STR_FMT(name));
        if (value.s)
            n += (size_t)snprintf(out + n, cap - n, "=%.*s", SC_STR_FMT(value));
    }
    if (need_received)
        n += (size_t)snprintf(out + n, cap - n, ";received=%s", src_ip);
    /* other Via values on the same line follow unchanged */
    const char *rest = v->raw.s + v->raw.len;
    size_t restlen = (size_t)(h->value.s + h->value.len - rest);
    if (n + restlen >= cap)
        return -1;
    memcpy(out + n, rest, restlen);
    n += restlen;
    h->value = sc_str(out, n);
    return sc_msg_reindex(m, SC_HDR_VIA) ? -1 : 0;
}
