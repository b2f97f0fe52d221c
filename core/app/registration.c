/*
 * registration.c — what a registrar module needs from a request that the
 * rest of the API does not give: every line of a header, the Contacts
 * parsed (RFC 3261 §20.10 with the RFC 5626 parameters), the canonical
 * address-of-record (§10.3 step 5) and URI equality (§19.1.4).  The
 * parsing is the core's, so a module never parses SIP grammar itself.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "chain_impl.h"

sc_str_t sc_req_header_at(const sc_req_t *req, const char *name, int i)
{
    size_t n = strlen(name);
    sc_hdr_id_t id = sc_hdr_lookup(name, n);
    for (const sc_hdr_t *h = req->msg->hdr_first; h; h = h->next) {
        bool same = id != SC_HDR_OTHER ? h->id == id
                                       : h->name.len == n && strncasecmp(h->name.s, name, n) == 0;
        if (same && i-- == 0)
            return h->value;
    }
    return SC_STR_NULL;
}

static long param_long(sc_str_t params, const char *name, long none)
{
    sc_str_t v;
    if (!sc_param_find(params, name, &v) || v.s == NULL || v.len == 0 || v.len > 9)
        return none;
    long n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.s[i] < '0' || v.s[i] > '9')
            return none;
        n = n * 10 + (v.s[i] - '0');
    }
    return n;
}

int sc_req_contacts(const sc_req_t *req, sc_contact_t *out, int max)
{
    const sc_msg_t *m = req->msg;
    if (m->contact_star)
        return -1;
    int n = 0;
    for (const sc_addr_t *a = m->contact; a; a = a->next, n++) {
        if (n >= max)
            continue;
        sc_contact_t *c = &out[n];
        *c = (sc_contact_t){ .uri = a->uri.raw, .params = a->params,
                             .expires = a->has_expires ? (long)a->expires : -1, .q = a->q,
                             .reg_id = param_long(a->params, "reg-id", -1) };
        sc_str_t inst;
        if (sc_param_find(a->params, "+sip.instance", &inst) && inst.s) {
            if (inst.len >= 2 && inst.s[0] == '"' && inst.s[inst.len - 1] == '"')
                inst = sc_str(inst.s + 1, inst.len - 2);
            c->instance = inst;
        }
    }
    return n;
}

/* h without the brackets of an IPv6 reference. */
static sc_str_t unbracket(sc_str_t h)
{
    if (h.len >= 2 && h.s[0] == '[' && h.s[h.len - 1] == ']')
        return sc_str(h.s + 1, h.len - 2);
    return h;
}

/* The 16 octets of an IPv6 address written as text (bracketed or not):
 * true, or false when it is not one. */
static bool ipv6_of(sc_str_t h, unsigned char *out)
{
    char buf[INET6_ADDRSTRLEN + 1];
    h = unbracket(h);
    if (h.len == 0 || h.len >= sizeof(buf) || memchr(h.s, ':', h.len) == NULL)
        return false;
    memcpy(buf, h.s, h.len);
    buf[h.len] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1;
}

int sc_uri_aor(sc_str_t uri, char *out, size_t outlen)
{
    sc_uri_t u;
    if (sc_uri_parse(&u, uri) != NULL || (u.scheme != SC_URI_SIP && u.scheme != SC_URI_SIPS) ||
        u.host.len == 0)
        return -1;
    /* sip:user@host: sips is the same AOR (§10.3: the scheme of the
     * binding is the Contact's business), the host case-folded, port and
     * parameters dropped, the user as written (it is case-sensitive) */
    size_t need = 4 + u.user.len + 1 + u.host.len + 2 + 1;
    if (need > outlen)
        return -1;
    char *p = out;
    memcpy(p, "sip:", 4);
    p += 4;
    if (u.has_user) {
        memcpy(p, u.user.s, u.user.len);
        p += u.user.len;
        *p++ = '@';
    }
    unsigned char a6[16];
    char text6[INET6_ADDRSTRLEN];
    if (u.host_ipv6 && ipv6_of(u.host, a6) && inet_ntop(AF_INET6, a6, text6, sizeof(text6)) &&
        strlen(text6) <= u.host.len)
        u.host = sc_str_cstr(text6);    /* one spelling per address: [0::1] is [::1] */
    if (u.host_ipv6)
        *p++ = '[';
    for (size_t i = 0; i < u.host.len; i++)
        *p++ = (char)(u.host.s[i] >= 'A' && u.host.s[i] <= 'Z' ? u.host.s[i] + 32 : u.host.s[i]);
    if (u.host_ipv6)
        *p++ = ']';
    *p = '\0';
    return (int)(p - out);
}

bool sc_uri_same(sc_str_t a, sc_str_t b)
{
    sc_uri_t ua, ub;
    if (sc_uri_parse(&ua, a) != NULL || sc_uri_parse(&ub, b) != NULL)
        return a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
    return sc_uri_equal(&ua, &ub);
}

sc_str_t sc_req_to_uri(const sc_req_t *req)
{
    return req->msg->to ? req->msg->to->uri.raw : SC_STR_NULL;
}

sc_str_t sc_req_from_uri(const sc_req_t *req)
{
    return req->msg->from ? req->msg->from->uri.raw : SC_STR_NULL;
}

int sc_uri_user_host(sc_str_t uri, sc_str_t *user, sc_str_t *host)
{
    sc_uri_t u;
    *user = *host = SC_STR_NULL;
    if (sc_uri_parse(&u, uri) != NULL || (u.scheme != SC_URI_SIP && u.scheme != SC_URI_SIPS))
        return -1;
    *user = u.user;
    *host = u.host;
    return 0;
}

bool sc_host_matches(sc_str_t host, const char *domain)
{
    sc_str_t a = unbracket(host), b = unbracket(sc_str_cstr(domain));
    if (a.len == b.len && sc_mem_caseeq(a.s, b.s, a.len))
        return true;
    unsigned char x[16], y[16];
    return ipv6_of(a, x) && ipv6_of(b, y) && memcmp(x, y, 16) == 0;
}

bool sc_uri_matches(sc_str_t uri, const char *domain, const char *user_prefix)
{
    sc_str_t user, host;
    if (sc_uri_user_host(uri, &user, &host) != 0)
        return false;
    if (domain && !sc_host_matches(host, domain))
        return false;
    size_t n = user_prefix ? strlen(user_prefix) : 0;
    return n == 0 || (user.len >= n && memcmp(user.s, user_prefix, n) == 0);
}
