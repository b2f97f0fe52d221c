/*
 * registrar — RFC 3261 §10.3, with Path (RFC 3327) and outbound (RFC
 * 5626), publishing the "location" service proxies route with.
 *
 * A REGISTER whose Request-URI names one of our domains is processed in
 * the order §10.3 gives: the AOR from To (canonical; 404 when it is not
 * in our domains), then every Contact checked before any is applied (an
 * error leaves the bindings as they were): "*" only alone and with
 * Expires: 0, the expiry from the contact's param, else Expires, else
 * default (423 + Min-Expires below min_expires, capped at max_expires),
 * Call-ID/CSeq ordering (a CSeq not above the binding's with the same
 * Call-ID is refused), the cap on contacts per AOR (refuse with 403, or
 * drop the oldest).  The 200 lists every binding with its time left,
 * and carries Date.  A contact with +sip.instance and reg-id is a flow
 * (RFC 5626 §6): a new registration of the same instance and reg-id
 * replaces the old one whatever its URI.  Each binding keeps the
 * transport and address it registered from, so a phone behind NAT is
 * reached there.  Requests for other domains pass on (sc_next).
 *
 * Config:
 *   - module: registrar
 *     domains: [ example.com ]      # required: the domains we serve (any case;
 *                                   # IPv6 as "::1" or "[::1]")
 *     min_expires: 60               # 423 below it (0 means any)
 *     max_expires: 3600
 *     default_expires: 3600
 *     max_contacts: 10              # per AOR
 *     when_full: refuse             # refuse (403) | replace_oldest
 *     persist: /var/lib/sipchain/registrar.log   # optional: survive restarts
 *     fsync: false                  # fsync every change (survive power loss)
 */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sipchain.h>

#include "store.h"

#define MAX_DOMAINS  64
#define MAX_CONTACTS 32         /* in one REGISTER */

typedef struct registrar {
    sc_location_api_t api;      /* first: the service is this struct */
    sc_instance_t    *inst;
    const char       *domains[MAX_DOMAINS];
    int               ndomains;
    unsigned long     min_expires, max_expires, default_expires, max_contacts;
    bool              replace_oldest, fsync_each;
    const char       *persist;
    store_t          *store;        /* kept across reloads (sc_kept) */
    char              why[512];     /* why the store could not be made */
    struct event     *sweep;
    unsigned          ticks;        /* of the sweep */
    sc_metric_t      *m_aors, *m_bindings;
    reg_admin_t       admin;        /* the "registrations" resource (admin.c) */
    struct registrar *older;        /* the instances alive, newest first */
} registrar_t;

/* A reload runs two registrars side by side for a while (the old one
 * until its last request or call is done), sharing the store, or each
 * with its own when the link's identity changed.  What is process-wide
 * follows the newest instance alive: the gauges (were each to set its
 * own counts, they would flap between two stores, and fall to 0 when
 * the old one goes) and a shared store's log (the newest configuration
 * says where it goes).  When the newest goes (a reload that failed, the
 * registrar taken out of the chain), the one before it takes over
 * again, or the gauges go to 0 with the last. */
static registrar_t *newest;

/* the gauges follow the store after each change and each sweep */
static void publish_counts(const registrar_t *r)
{
    if (r != newest || r->store == NULL)
        return;
    sc_metric_set(r->m_aors, (int64_t)r->store->naors);
    sc_metric_set(r->m_bindings, (int64_t)r->store->nbindings);
}

static void counts_changed(void *arg)
{
    publish_counts(arg);
}

/* --- config ------------------------------------------------------------- */

static int conf_uint(const sc_conf_node_t *conf, const char *key, unsigned long max,
                     unsigned long *out, char *err, size_t errlen)
{
    const sc_conf_node_t *n = sc_conf_get(conf, key);
    return n ? sc_conf_uint(n, max, out, err, errlen) : 0;
}

static int lookup(const sc_location_api_t *api, const char *aor, sc_location_t *out, int max);
static bool serves_uri(const sc_location_api_t *api, const char *uri);

/* The bindings outlive the instance (sc_kept): a reload's new registrar
 * takes over the running one's store, so a SIGHUP loses no registration
 * whether or not `persist` is set, nor when it is added, moved or
 * dropped (the log follows the newest configuration: persist_switch).
 * Made once, at the start: from the log when there is one. */
static void *store_make(void *arg)
{
    registrar_t *r = arg;
    store_t *s = store_new();
    if (s == NULL) {
        snprintf(r->why, sizeof(r->why), "out of memory");
        return NULL;
    }
    if (r->persist && sc_instance_checking(r->inst)) {
        /* sipchain -t: the log is neither read nor created, only reachable */
        if (sc_check_writable(r->persist, r->why, sizeof(r->why)) != 0) {
            store_free(s);
            return NULL;
        }
    } else if (r->persist) {
        if (persist_open(s, r->inst, r->persist, r->fsync_each, r->why, sizeof(r->why)) != 0) {
            store_free(s);
            return NULL;
        }
        sc_instance_log(r->inst, SC_LOG_LEVEL_INFO, "%zu binding(s) of %zu AOR(s) restored from %s",
                        s->nbindings, s->naors, r->persist);
    }
    return s;
}

static void store_drop(void *obj)
{
    store_free(obj);
}

#define STORE_KEY "bindings"

/* The store's log becomes the one r's configuration names (a store
 * kept from another registrar may have another, or none), said in the
 * log when it changed.  0, or -1 with the reason in r->why. */
static int take_log(registrar_t *r)
{
    char was[4200];
    const char *p = persist_path(r->store);
    snprintf(was, sizeof(was), "%s", p ? p : "");
    if (persist_switch(r->store, r->inst, r->persist, r->fsync_each, r->why, sizeof(r->why)) != 0)
        return -1;
    const char *now = r->persist ? r->persist : "";
    if (strcmp(was, now) == 0)
        return 0;
    if (*now)
        sc_instance_log(r->inst, SC_LOG_LEVEL_INFO, "%zu binding(s) now logged to %s%s%s", r->store->nbindings,
                        now, *was ? " instead of " : "", was);
    else
        sc_instance_log(r->inst, SC_LOG_LEVEL_INFO, "bindings no longer logged to %s (kept in memory)", was);
    return 0;
}

static int reg_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "domains", "min_expires", "max_expires", "default_expires",
                                        "max_contacts", "when_full", "persist", "fsync", NULL };
    registrar_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    sc_instance_set_data(inst, r);
    *r = (registrar_t){ .api = { .lookup = lookup, .serves = serves_uri }, .inst = inst, .min_expires = 60,
                        .max_expires = 3600, .default_expires = 3600, .max_contacts = 10 };
    r->m_aors = sc_instance_gauge(inst, "sipchain_registrar_aors", "addresses-of-record with a binding", NULL);
    r->m_bindings = sc_instance_gauge(inst, "sipchain_registrar_bindings", "registered contacts", NULL);
    r->older = newest;
    newest = r;
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    const sc_conf_node_t *n = sc_conf_get(conf, "domains");
    if (n == NULL)
        return sc_conf_error(err, errlen, conf, "registrar needs \"domains\": the domains it serves");
    for (const sc_conf_node_t *d = sc_conf_first(n); d; d = sc_conf_next(d)) {
        if (r->ndomains == MAX_DOMAINS)
            return sc_conf_error(err, errlen, d, "at most %d domains", MAX_DOMAINS);
        if (sc_conf_string(d, &r->domains[r->ndomains++], err, errlen))
            return -1;
    }
    if (r->ndomains == 0)
        return sc_conf_error(err, errlen, n, "\"domains\" must be a non-empty list");
    if (conf_uint(conf, "min_expires", 86400, &r->min_expires, err, errlen) ||
        conf_uint(conf, "max_expires", 31536000, &r->max_expires, err, errlen) ||
        conf_uint(conf, "default_expires", 31536000, &r->default_expires, err, errlen) ||
        conf_uint(conf, "max_contacts", 1000, &r->max_contacts, err, errlen))
        return -1;
    if (r->max_expires < r->min_expires)
        return sc_conf_error(err, errlen, sc_conf_get(conf, "max_expires") ? sc_conf_get(conf, "max_expires") : conf,
                             "max_expires (%lu) is below min_expires (%lu)", r->max_expires, r->min_expires);
    if (r->default_expires < r->min_expires || r->default_expires > r->max_expires)
        return sc_conf_error(err, errlen, sc_conf_get(conf, "default_expires") ? sc_conf_get(conf, "default_expires") : conf,
                             "default_expires (%lu) must lie between min_expires and max_expires",
                             r->default_expires);
    if (r->max_contacts == 0)
        return sc_conf_error(err, errlen, sc_conf_get(conf, "max_contacts"), "max_contacts must be at least 1");
    if ((n = sc_conf_get(conf, "when_full"))) {
        const char *w;
        if (sc_conf_string(n, &w, err, errlen))
            return -1;
        if (strcmp(w, "replace_oldest") != 0 && strcmp(w, "refuse") != 0)
            return sc_conf_error(err, errlen, n, "when_full is \"refuse\" or \"replace_oldest\", not \"%s\"", w);
        r->replace_oldest = strcmp(w, "replace_oldest") == 0;
    }
    if ((n = sc_conf_get(conf, "fsync")) && sc_conf_bool(n, &r->fsync_each, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "persist")) && sc_conf_string(n, &r->persist, err, errlen))
        return -1;
    if ((r->store = sc_kept(inst, STORE_KEY, store_make, store_drop, r)) == NULL)
        return r->persist ? sc_conf_error(err, errlen, n, "persist: %s", r->why) : -1;
    /* a store kept from the running registrar: its log becomes ours */
    if (!sc_instance_checking(inst) && take_log(r) != 0)    /* -t: no file made */
        return sc_conf_error(err, errlen, n ? n : conf, "persist: %s", r->why);
    publish_counts(r);
    r->admin = (reg_admin_t){ &r->store, counts_changed, r };
    if (reg_admin_register(inst, &r->admin) != 0)
        return -1;
    return sc_service_publish(inst, SC_LOCATION_SERVICE, &r->api);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    registrar_t *r = arg;
    (void)fd;
    (void)what;
    /* a twentieth of the table per tick: every bucket once a second */
    store_sweep(r->store, time(NULL), r->store->cap / 20 + 1);
    publish_counts(r);
    if (r == newest && ++r->ticks % 20 == 0)
        persist_check(r->store);    /* once a second: is the log still the file at its path? */
}

static int reg_start(sc_instance_t *inst)
{
    registrar_t *r = sc_instance_data(inst);
    /* expiry by timer: lookups skip what expired already, the sweep
     * frees it (and records the removal) */
    r->sweep = event_new(sc_instance_base(inst), -1, EV_PERSIST, on_sweep, r);
    struct timeval tv = { 0, 50000 };
    return r->sweep && event_add(r->sweep, &tv) == 0 ? 0 : -1;
}

static void reg_destroy(sc_instance_t *inst)
{
    registrar_t *r = sc_instance_data(inst);
    if (r == NULL)
        return;
    if (r->sweep)
        event_free(r->sweep);
    registrar_t *h = newest;        /* the newest holding r's store */
    while (h && h->store != r->store)
        h = h->older;
    for (registrar_t **p = &newest; *p; p = &(*p)->older)
        if (*p == r) {
            *p = r->older;
            break;
        }
    if (r->store) {
        registrar_t *next = r->older;
        while (next && next->store != r->store)
            next = next->older;
        if (h == r && next) {       /* r had the say over its log: the one before it has again */
            if (take_log(next) != 0)
                sc_instance_log(next->inst, SC_LOG_LEVEL_WARN, "persist: %s", next->why);
        } else if (h == r) {
            persist_set_inst(r->store, NULL, inst);     /* no longer name this one */
        }
        sc_kept_release(inst, STORE_KEY, r->store, store_drop);
    }
    /* the one before it speaks again; with none, the gauges leave the
     * page when the framework lets go of this instance's view of them */
    if (newest)
        publish_counts(newest);
    free(r);
}

/* --- the location service ------------------------------------------------ */

static int lookup(const sc_location_api_t *api, const char *aor, sc_location_t *out, int max)
{
    const registrar_t *r = (const registrar_t *)api;
    char key[512];
    if (sc_uri_aor((sc_str_t){ aor, strlen(aor) }, key, sizeof(key)) < 0)
        return 0;
    aor_t *a = store_aor(r->store, key, false);
    time_t now = time(NULL);
    int n = 0;
    for (binding_t *b = a ? a->bindings : NULL; b; b = b->next) {
        if (b->expires_at <= now)
            continue;
        /* best q first (insertion into the max best); equal q keeps the
         * list's order, newest registration first */
        sc_location_t l = { .uri = b->uri, .path = b->path, .received = b->received,
                            .instance = b->instance, .reg_id = b->reg_id,
                            .q = b->q < 0 ? 1000 : b->q,
                            .expires_in = (unsigned)(b->expires_at - now) };
        int have = n < max ? n : max, at = have;
        while (at > 0 && out[at - 1].q < l.q)
            at--;
        if (at < max) {
            int keep = have - at - (have == max ? 1 : 0);
            memmove(&out[at + 1], &out[at], sizeof(*out) * (size_t)keep);
            out[at] = l;
        }
        n++;
    }
    return n;
}

/* --- REGISTER (§10.3) ------------------------------------------------------- */

static bool serves(const registrar_t *r, const char *aor)
{
    const char *host = strchr(aor, '@');
    host = host ? host + 1 : aor + 4;       /* after "sip:" */
    for (int i = 0; i < r->ndomains; i++)      /* any case; ::1 is [::1] */
        if (sc_host_matches((sc_str_t){ host, strlen(host) }, r->domains[i]))
            return true;
    return false;
}

static bool serves_uri(const sc_location_api_t *api, const char *uri)
{
    char aor[512];
    return sc_uri_aor((sc_str_t){ uri, strlen(uri) }, aor, sizeof(aor)) > 0 &&
           serves((const registrar_t *)api, aor);
}

/* A non-negative decimal of at most 10 digits; -1 when absent or bad. */
static long number(sc_str_t v, bool *bad)
{
    long n = 0;
    size_t i = 0;
    while (i < v.len && (v.s[i] == ' ' || v.s[i] == '\t'))
        i++;
    size_t start = i;
    for (; i < v.len && v.s[i] >= '0' && v.s[i] <= '9' && i - start < 10; i++)
        n = n * 10 + (v.s[i] - '0');
    if (v.len && (i == start || (i < v.len && v.s[i] != ' ')))
        *bad = true;
    return v.len ? n : -1;
}

static bool token_in(sc_str_t list, const char *tok)
{
    size_t n = strlen(tok);
    for (size_t i = 0; i + n <= list.len; i++)
        if (strncasecmp(list.s + i, tok, n) == 0 && (i == 0 || list.s[i - 1] == ',' || list.s[i - 1] == ' ') &&
            (i + n == list.len || list.s[i + n] == ',' || list.s[i + n] == ' '))
            return true;
    return false;
}

/* Every line of a header joined with ", " (Path); NULL when absent. */
static char *joined(const sc_req_t *req, const char *name)
{
    size_t len = 0;
    sc_str_t v;
    for (int i = 0; (v = sc_req_header_at(req, name, i)).len; i++)
        len += v.len + 2;
    if (len == 0)
        return NULL;
    char *out = malloc(len + 1), *p = out;
    for (int i = 0; out && (v = sc_req_header_at(req, name, i)).len; i++) {
        if (p != out) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, v.s, v.len);
        p += v.len;
    }
    if (out)
        *p = '\0';
    return out;
}

static binding_t *find_binding(aor_t *a, const sc_contact_t *c)
{
    for (binding_t *b = a ? a->bindings : NULL; b; b = b->next) {
        /* RFC 5626 §6: the same instance and reg-id is the same flow */
        if (c->instance.len && c->reg_id >= 0 && b->instance && b->reg_id == c->reg_id &&
            strlen(b->instance) == c->instance.len &&
            memcmp(b->instance, c->instance.s, c->instance.len) == 0)
            return b;
        if (sc_uri_same((sc_str_t){ b->uri, strlen(b->uri) }, c->uri))
            return b;
    }
    return NULL;
}

/* Removes b from a, on disk too; the AOR after it (created again when
 * b was its last binding and recreate, else NULL then). */
static aor_t *unbind(registrar_t *r, aor_t *a, binding_t *b, const char *aor, bool recreate)
{
    bool last = a->n == 1;
    persist_remove(r->store, a, b);
    store_remove(r->store, a, b);
    return !last ? a : recreate ? store_aor(r->store, aor, true) : NULL;
}

static void send_ok(registrar_t *r, const sc_req_t *req, sc_res_t *res, const char *aor,
                    const char *path)
{
    publish_counts(r);
    aor_t *a = store_aor(r->store, aor, false);
    time_t now = time(NULL);
    char line[2048], date[64];
    for (binding_t *b = a ? a->bindings : NULL; b; b = b->next) {
        if (b->expires_at <= now)
            continue;
        int n = snprintf(line, sizeof(line), "<%s>;expires=%lld", b->uri, (long long)(b->expires_at - now));
        if (b->q >= 0)
            n += snprintf(line + n, sizeof(line) - (size_t)n, ";q=%d.%03d", b->q / 1000, b->q % 1000);
        if (b->instance)
            n += snprintf(line + n, sizeof(line) - (size_t)n, ";+sip.instance=\"%s\"", b->instance);
        if (b->reg_id >= 0)
            snprintf(line + n, sizeof(line) - (size_t)n, ";reg-id=%ld", b->reg_id);
        sc_res_add_header(res, "Contact", line);
    }
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    sc_res_add_header(res, "Date", date);
    sc_str_t supported = sc_req_header(req, "Supported");
    if (path && token_in(supported, "path"))
        sc_res_add_header(res, "Path", path);       /* RFC 3327 §5.3 */
    if (token_in(supported, "outbound"))
        sc_res_add_header(res, "Require", "outbound");  /* RFC 5626 §6 */
    sc_res_send(res, 200, NULL);
}

static void reg_handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    registrar_t *r = sc_instance_data(inst);
    sc_str_t m = sc_req_method(req);
    char ruri_aor[512], aor[512], why[160];
    if (m.len != 8 || memcmp(m.s, "REGISTER", 8) != 0 ||
        sc_uri_aor(sc_req_uri(req), ruri_aor, sizeof(ruri_aor)) < 0 || !serves(r, ruri_aor)) {
        sc_next(req);                           /* §10.3 step 1: not our domain */
        return;
    }
    if (sc_uri_aor(sc_req_to_uri(req), aor, sizeof(aor)) < 0 || strchr(aor, '@') == NULL) {
        sc_res_send(res, 400, "Bad Request (To is not a sip: address-of-record)");
        return;
    }
    if (!serves(r, aor)) {                      /* step 5 */
        sc_res_send(res, 404, "Not Found (not a domain of this registrar)");
        return;
    }
    sc_contact_t cs[MAX_CONTACTS];
    int nc = sc_req_contacts(req, cs, MAX_CONTACTS);
    if (nc > MAX_CONTACTS) {
        snprintf(why, sizeof(why), "Bad Request (more than %d Contacts)", MAX_CONTACTS);
        sc_res_send(res, 400, why);
        return;
    }
    bool bad = false;
    long hdr_expires = number(sc_req_header(req, "Expires"), &bad);
    sc_str_t cseq_v = sc_req_header(req, "CSeq");
    uint32_t cseq = (uint32_t)number(cseq_v, &(bool){ false });
    sc_str_t call_id = sc_req_header(req, "Call-ID");
    if (bad) {
        sc_res_send(res, 400, "Bad Request (Expires is not a number of seconds)");
        return;
    }
    aor_t *a = store_aor(r->store, aor, false);
    time_t now = time(NULL);
    if (nc < 0) {                               /* step 6: "*" */
        if (hdr_expires != 0) {
            sc_res_send(res, 400, "Bad Request (Contact: * needs Expires: 0)");
            return;
        }
        for (binding_t *b = a ? a->bindings : NULL; b; b = b->next)
            if (b->call_id && strlen(b->call_id) == call_id.len &&
                memcmp(b->call_id, call_id.s, call_id.len) == 0 && cseq <= b->cseq) {
                sc_res_send(res, 400, "Bad Request (CSeq not above the binding's for this Call-ID)");
                return;
            }
        while (a)
            a = unbind(r, a, a->bindings, aor, false);
        send_ok(r, req, res, aor, NULL);
        return;
    }
    /* step 7, first pass: every contact checked before any is applied */
    long expires[MAX_CONTACTS];
    int adds = 0;
    for (int i = 0; i < nc; i++) {
        sc_contact_t *c = &cs[i];
        long e = c->expires >= 0 ? c->expires : hdr_expires >= 0 ? hdr_expires : (long)r->default_expires;
        if (e > 0 && (unsigned long)e < r->min_expires) {
            char min[32];
            snprintf(min, sizeof(min), "%lu", r->min_expires);
            sc_res_add_header(res, "Min-Expires", min);
            sc_res_send(res, 423, NULL);
            return;
        }
        expires[i] = (unsigned long)e > r->max_expires ? (long)r->max_expires : e;
        binding_t *b = find_binding(a, c);
        if (b && b->call_id && strlen(b->call_id) == call_id.len &&
            memcmp(b->call_id, call_id.s, call_id.len) == 0 && cseq <= b->cseq) {
            sc_res_send(res, 400, "Bad Request (CSeq not above the binding's for this Call-ID)");
            return;
        }
        if (b == NULL && expires[i] > 0)
            adds++;
    }
    if ((a ? (unsigned long)a->n : 0) + (unsigned long)adds > r->max_contacts && !r->replace_oldest) {
        snprintf(why, sizeof(why), "Forbidden (at most %lu contacts per address-of-record)", r->max_contacts);
        sc_res_send(res, 403, why);
        return;
    }
    /* second pass: apply */
    char *path = joined(req, "Path");
    char received[160];
    snprintf(received, sizeof(received), "%s:%s%s%s:%u", sc_req_transport(req),
             strchr(sc_req_source_ip(req), ':') ? "[" : "", sc_req_source_ip(req),
             strchr(sc_req_source_ip(req), ':') ? "]" : "", sc_req_source_port(req));
    for (int i = 0; i < nc; i++) {
        sc_contact_t *c = &cs[i];
        a = store_aor(r->store, aor, expires[i] > 0);
        binding_t *old = a ? find_binding(a, c) : NULL;
        if (old)                                /* removed, or replaced below */
            a = unbind(r, a, old, aor, expires[i] > 0);
        if (expires[i] == 0 || a == NULL)
            continue;
        binding_t *b = binding_new(
            &(binding_t){ .cseq = cseq, .expires_at = now + expires[i], .q = c->q,
                          .reg_id = c->instance.len ? c->reg_id : -1 },
            &(binding_text_t){ .uri = c->uri, .call_id = call_id, .path = text_of(path),
                               .received = text_of(received), .instance = c->instance });
        if (b == NULL)
            break;
        while (a && (unsigned long)a->n >= r->max_contacts) {    /* replace_oldest */
            binding_t *oldest = a->bindings;
            for (binding_t *x = a->bindings; x; x = x->next)
                if (x->seq < oldest->seq)
                    oldest = x;
            sc_instance_log(inst, SC_LOG_LEVEL_INFO, "%s: full, %s replaced by %s", aor, oldest->uri, b->uri);
            a = unbind(r, a, oldest, aor, true);
        }
        if (a == NULL) {
            binding_free(b);
            break;
        }
        persist_put(r->store, a, store_put(r->store, a, b));
    }
    send_ok(r, req, res, aor, path);
    free(path);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "registrar",
    .version = "1.0",
    .create = reg_create,
    .start = reg_start,
    .handle = reg_handle,
    .destroy = reg_destroy,
};
