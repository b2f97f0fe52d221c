/* dialog.c — see dialog.h. */
#include "dialog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(sc_str_t v)
{
    char *s = malloc(v.len + 1);
    if (s) {
        if (v.len)
            memcpy(s, v.s, v.len);
        s[v.len] = '\0';
    }
    return s;
}

/* A From/To value as the dialog keeps it: display name and URI, without
 * the tag (the dialog adds its own). */
static char *name_addr(const sc_addr_t *a)
{
    size_t n = a->display.len + a->uri.raw.len + 8;
    char *s = malloc(n);
    if (s == NULL)
        return NULL;
    if (a->display.len)
        snprintf(s, n, a->display_quoted ? "\"%.*s\" <%.*s>" : "%.*s <%.*s>",
                 SC_STR_FMT(a->display), SC_STR_FMT(a->uri.raw));
    else
        snprintf(s, n, "<%.*s>", SC_STR_FMT(a->uri.raw));
    return s;
}

/* The route set from Record-Route, in the order given or reversed (the
 * UAC reads its Record-Route bottom up, §12.1.2). */
static char *route_set(const sc_addr_t *rr, bool reverse)
{
    size_t n = 1, k = 0;
    for (const sc_addr_t *a = rr; a; a = a->next, k++)
        n += a->raw.len + 2;
    char *s = malloc(n);
    const sc_addr_t **v = k ? malloc(k * sizeof(*v)) : NULL;
    if (s == NULL || (k && v == NULL)) {
        free(s);
        free(v);
        return NULL;
    }
    size_t i = 0, at = 0;
    for (const sc_addr_t *a = rr; a; a = a->next)
        v[i++] = a;
    s[0] = '\0';
    for (i = 0; i < k; i++) {
        const sc_addr_t *a = v[reverse ? k - 1 - i : i];
        at += (size_t)snprintf(s + at, n - at, "%s%.*s", i ? ", " : "", SC_STR_FMT(a->raw));
    }
    free(v);
    return s;
}

static sc_dlg_t *finish(sc_dlg_t *d, sc_str_t from_tag)
{
    if (d->call_id && d->local_tag && d->remote_tag && d->local_uri && d->remote_uri &&
        d->remote_target && d->local_target && d->route) {
        size_t n = strlen(d->call_id) + from_tag.len + 16;
        if ((d->id = malloc(n)) != NULL) {
            snprintf(d->id, n, "%s;from-tag=%.*s", d->call_id, SC_STR_FMT(from_tag));
            return d;
        }
    }
    sc_dlg_free(d);
    return NULL;
}

sc_dlg_t *sc_dlg_new_uas(const sc_msg_t *req, sc_str_t local_tag, sc_str_t local_target)
{
    if (req->from == NULL || req->to == NULL || req->contact == NULL || !req->has_cseq)
        return NULL;
    sc_dlg_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->call_id = dup_str(req->call_id);
    d->local_tag = dup_str(local_tag);
    d->remote_tag = dup_str(req->from->tag);
    d->local_uri = name_addr(req->to);
    d->remote_uri = name_addr(req->from);
    d->remote_target = dup_str(req->contact->uri.raw);
    d->local_target = dup_str(local_target);
    d->route = route_set(req->record_route, false);
    d->remote_cseq = req->cseq.num;
    d->secure = req->ruri.scheme == SC_URI_SIPS;
    return finish(d, req->from->tag);
}

sc_dlg_t *sc_dlg_new_uac(const sc_msg_t *req, const sc_msg_t *resp)
{
    /* A provisional without Contact (RFC 3261 §12.1.2 says it SHOULD
     * have one; some UAs leave it out of a reliable 18x) still makes the
     * early dialog: its remote target is what we knew so far, the
     * Request-URI, reached the way the request went (its Route, when the
     * response brings no Record-Route), until the 2xx sets both.
     * sofia-sip does the same, so its PRACK goes out.  A 2xx must carry
     * a Contact (§13.3.1.4). */
    bool provisional = resp->status < 200;
    if (req->from == NULL || resp->to == NULL || resp->to->tag.len == 0 ||
        (resp->contact == NULL && !provisional) || !req->has_cseq)
        return NULL;
    sc_dlg_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->uac = true;
    d->call_id = dup_str(req->call_id);
    d->local_tag = dup_str(req->from->tag);
    d->remote_tag = dup_str(resp->to->tag);
    d->local_uri = name_addr(req->from);
    d->remote_uri = name_addr(resp->to);
    d->remote_target = dup_str(resp->contact ? resp->contact->uri.raw : req->ruri_str);
    d->local_target = req->contact ? dup_str(req->contact->uri.raw) : dup_str(SC_STR_NULL);
    d->route = resp->contact == NULL && resp->record_route == NULL ? route_set(req->route, false)
                                                                 : route_set(resp->record_route, true);
    d->local_cseq = req->cseq.num;
    d->secure = req->ruri.scheme == SC_URI_SIPS;
    return finish(d, req->from->tag);
}

void sc_dlg_free(sc_dlg_t *d)
{
    if (d == NULL)
        return;
    char *all[] = { d->call_id, d->local_tag, d->remote_tag, d->local_uri, d->remote_uri,
                    d->remote_target, d->local_target, d->route, d->id };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    free(d);
}

/* §12.2.1.1 with a strict router first in the route set (no ;lr): its
 * URI becomes the Request-URI and the remote target goes last. */
static int add_route(sc_msg_t *m, const sc_dlg_t *d)
{
    const char *bad;
    if (d->route[0] == '\0')
        return sc_msg_set_ruri(m, sc_str_cstr(d->remote_target), &bad);
    if (sc_msg_add_header(m, SC_STR_LIT("Route"), sc_str_cstr(d->route), NULL) != 0)
        return -1;
    const sc_addr_t *first = m->route;
    if (first == NULL || first->uri.lr)
        return sc_msg_set_ruri(m, sc_str_cstr(d->remote_target), &bad);
    char *rest = malloc(strlen(d->route) + strlen(d->remote_target) + 8);
    if (rest == NULL)
        return -1;
    /* the Route value is d->route as given: the same offsets */
    const char *after = first->next ? d->route + (first->next->raw.s - m->hdr[SC_HDR_ROUTE]->value.s)
                                    : NULL;
    char *ruri_copy = dup_str(first->uri.raw);
    if (after)
        sprintf(rest, "%s, <%s>", after, d->remote_target);
    else
        sprintf(rest, "<%s>", d->remote_target);
    int rc = ruri_copy ? sc_msg_replace_header(m, SC_STR_LIT("Route"), sc_str_cstr(rest), NULL) : -1;
    if (rc == 0)
        rc = sc_msg_set_ruri(m, sc_str_cstr(ruri_copy), &bad);
    free(rest);
    free(ruri_copy);
    return rc;
}

sc_msg_t *sc_dlg_request(sc_dlg_t *d, sc_method_t method, sc_str_t name, uint32_t cseq)
{
    sc_msg_t *m = sc_msg_new_request(method, name, sc_str_cstr(d->remote_target));
    if (m == NULL)
        return NULL;
    if (cseq == 0)
        cseq = ++d->local_cseq;
    else if (method != SC_METHOD_ACK && method != SC_METHOD_CANCEL && cseq > d->local_cseq)
        d->local_cseq = cseq;
    size_t n = strlen(d->local_uri) + strlen(d->remote_uri) + strlen(d->local_tag) +
               strlen(d->remote_tag) + 64;
    char *line = malloc(n);
    int rc = line ? 0 : -1;
    if (rc == 0) {
        snprintf(line, n, "%s;tag=%s", d->local_uri, d->local_tag);
        rc |= sc_msg_add_header(m, SC_STR_LIT("From"), sc_str_cstr(line), NULL);
        snprintf(line, n, "%s;tag=%s", d->remote_uri, d->remote_tag);
        rc |= sc_msg_add_header(m, SC_STR_LIT("To"), sc_str_cstr(line), NULL);
        rc |= sc_msg_add_header(m, SC_STR_LIT("Call-ID"), sc_str_cstr(d->call_id), NULL);
        snprintf(line, n, "%u %.*s", cseq, SC_STR_FMT(m->method_str));
        rc |= sc_msg_add_header(m, SC_STR_LIT("CSeq"), sc_str_cstr(line), NULL);
        rc |= sc_msg_add_header(m, SC_STR_LIT("Max-Forwards"), SC_STR_LIT("70"), NULL);
        if (rc == 0)
            rc = add_route(m, d);
    }
    free(line);
    if (rc != 0) {
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

bool sc_dlg_accept_cseq(sc_dlg_t *d, const sc_msg_t *req)
{
    if (req->method == SC_METHOD_ACK || req->method == SC_METHOD_CANCEL)
        return true;
    if (d->remote_cseq && req->cseq.num < d->remote_cseq)
        return false;
    d->remote_cseq = req->cseq.num;
    return true;
}

void sc_dlg_refresh_target(sc_dlg_t *d, const sc_msg_t *m)
{
    if (m->contact == NULL || m->contact_star)
        return;
    char *t = dup_str(m->contact->uri.raw);
    if (t) {
        free(d->remote_target);
        d->remote_target = t;
    }
}

void sc_dlg_confirm(sc_dlg_t *d, const sc_msg_t *resp)
{
    char *r = route_set(resp->record_route, true);
    if (r) {
        free(d->route);
        d->route = r;
    }
    sc_dlg_refresh_target(d, resp);
}

/* --- the table: buckets by Call-ID ------------------------------------- */

struct sc_dlg_table {
    sc_dlg_t **b;
    size_t     nb;
    unsigned   n;
};

static size_t hash(sc_str_t call_id, size_t nb)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < call_id.len; i++)
        h = (h ^ (unsigned char)call_id.s[i]) * 16777619u;
    return h & (nb - 1);
}

sc_dlg_table_t *sc_dlg_table_new(void)
{
    sc_dlg_table_t *t = calloc(1, sizeof(*t));
    if (t && (t->b = calloc(t->nb = 1024, sizeof(*t->b))) == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void sc_dlg_table_free(sc_dlg_table_t *t)
{
    if (t) {
        free(t->b);
        free(t);
    }
}

/* Doubles the buckets when chains grow past two on average. */
static void grow(sc_dlg_table_t *t)
{
    size_t nb = t->nb * 2;
    sc_dlg_t **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return;         /* longer chains, still correct */
    for (size_t i = 0; i < t->nb; i++)
        for (sc_dlg_t *d = t->b[i], *n; d; d = n) {
            n = d->hnext;
            size_t k = hash(sc_str_cstr(d->call_id), nb);
            d->hnext = b[k];
            b[k] = d;
        }
    free(t->b);
    t->b = b;
    t->nb = nb;
}

void sc_dlg_table_add(sc_dlg_table_t *t, sc_dlg_t *d)
{
    if (t->n >= t->nb * 2)
        grow(t);
    size_t k = hash(sc_str_cstr(d->call_id), t->nb);
    d->hnext = t->b[k];
    t->b[k] = d;
    t->n++;
}

void sc_dlg_table_remove(sc_dlg_table_t *t, sc_dlg_t *d)
{
    for (sc_dlg_t **p = &t->b[hash(sc_str_cstr(d->call_id), t->nb)]; *p; p = &(*p)->hnext)
        if (*p == d) {
            *p = d->hnext;
            d->hnext = NULL;
            t->n--;
            return;
        }
}

unsigned sc_dlg_table_count(const sc_dlg_table_t *t) { return t->n; }

sc_dlg_t *sc_dlg_table_find(const sc_dlg_table_t *t, sc_str_t call_id, sc_str_t local_tag,
                            sc_str_t remote_tag)
{
    for (sc_dlg_t *d = t->b[hash(call_id, t->nb)]; d; d = d->hnext)
        if (sc_str_eq_c(call_id, d->call_id) && sc_str_eq_c(local_tag, d->local_tag) &&
            sc_str_eq_c(remote_tag, d->remote_tag))
            return d;
    return NULL;
}

sc_dlg_t *sc_dlg_table_match(const sc_dlg_table_t *t, const sc_msg_t *req)
{
    if (req->from == NULL || req->to == NULL || req->to->tag.len == 0)
        return NULL;
    return sc_dlg_table_find(t, req->call_id, req->to->tag, req->from->tag);
}

sc_dlg_t *sc_dlg_table_find_from_tag(const sc_dlg_table_t *t, sc_str_t call_id, sc_str_t from_tag)
{
    for (sc_dlg_t *d = t->b[hash(call_id, t->nb)]; d; d = d->hnext)
        if (sc_str_eq_c(call_id, d->call_id) &&
            sc_str_eq_c(from_tag, d->uac ? d->local_tag : d->remote_tag))
            return d;
    return NULL;
}

sc_dlg_t *sc_dlg_table_find_id(const sc_dlg_table_t *t, sc_str_t id)
{
    static const char sep[] = ";from-tag=";
    for (size_t i = 0; i + sizeof(sep) - 1 <= id.len; i++)
        if (memcmp(id.s + i, sep, sizeof(sep) - 1) == 0) {
            size_t at = i + sizeof(sep) - 1;
            return sc_dlg_table_find_from_tag(t, sc_str(id.s, i), sc_str(id.s + at, id.len - at));
        }
    return NULL;
}
