/*
 * digest-auth — the server side of HTTP Digest for SIP (RFC 3261 §22,
 * RFC 7616, RFC 2617), as middleware: a request without valid credentials
 * is answered with a challenge; one with them goes on (sc_next) carrying
 * the authenticated user (sc_req_user) for the modules after it and the
 * CDRs.
 *
 * Who is challenged how: REGISTER and requests addressed to us (a
 * Request-URI without user part, or in one of our domains) get 401 +
 * WWW-Authenticate; requests we would forward get 407 +
 * Proxy-Authenticate, and so does every INVITE to a user (a call is
 * always passed on, by a proxy or a B2BUA: a 401 would ask for the
 * callee's credentials, §22.3) ("challenge: www|proxy" forces one; the
 * core's "methods:" filter picks the methods per instance).  ACK and
 * CANCEL are never challenged (they cannot be resent with credentials,
 * §22.1).  Credentials for our realm are taken off a request before it
 * goes on (they are ours, §22.3); other realms' stay.
 *
 * Algorithms: MD5 alone by default, because that is what phones speak:
 * baresip 1.0.0/libre (Debian 12) refuses a whole 401/407 ("Function not
 * implemented") if any challenge in it names another algorithm, in any
 * order, and sipp and many phones answer only the first challenge and
 * know only MD5: offering SHA-256 too (RFC 7616 §3.7, RFC 8760) locks
 * them out.  "algorithms: [ SHA-256, MD5 ]" offers both, in that
 * order, for UAs that pick the first they support.  qop="auth" (auth-int
 * is accepted too) and an opaque.  Nonces are
 * HMACed and replay-checked (nonce.h); an expired one answered with the
 * right password gets stale=true (with a wrong one, a plain challenge).
 * An unknown user and a wrong password get the same answer, so users
 * cannot be enumerated.  The authenticated user may REGISTER only its
 * own AOR (To user = username; own_aor_only: false lifts it).
 *
 * Credentials come from the "credentials" service: the users file of
 * this instance (users:), or another module's.
 *
 * Config:
 *   - module: digest-auth
 *     realm: example.com           # required
 *     users: /etc/sipchain/users.yaml
 *     domains: [ example.com ]     # "addressed to us" (default: the realm)
 *     challenge: auto              # auto | www | proxy
 *     nonce_lifetime: 300          # seconds
 *     secret: "${SIPCHAIN_NONCE_SECRET}"   # optional: keep nonces across restarts (stale, not unknown)
 *     own_aor_only: true
 *     algorithms: [ MD5 ]           # offered in this order; only these accepted
 */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sipchain.h>

#include "nonce.h"
#include "users.h"

#define MAX_DOMAINS 32

typedef enum { CH_AUTO, CH_WWW, CH_PROXY } challenge_t;

/* What makes our nonces ours: kept across reloads (sc_kept), so that a
 * SIGHUP does not make every phone's nonce unknown, nor forget which
 * counts were used (replays).  Keyed by the configured secret: another
 * secret is another set of nonces. */
typedef struct kept_nonces {
    nonces_t nonces;
    char     opaque[33];
    unsigned lifetime;      /* for make */
    const char *secret;
} kept_nonces_t;

static void *kn_make(void *arg)
{
    const kept_nonces_t *want = arg;
    kept_nonces_t *kn = calloc(1, sizeof(*kn));
    if (kn == NULL || nonces_init(&kn->nonces, want->secret, want->lifetime) != 0) {
        free(kn);
        return NULL;
    }
    unsigned char op[16];
    sc_random(op, sizeof(op));
    for (int i = 0; i < 16; i++)
        snprintf(kn->opaque + 2 * i, 3, "%02x", op[i]);
    return kn;
}

static void kn_drop(void *obj)
{
    kept_nonces_t *kn = obj;
    nonces_fini(&kn->nonces);
    free(kn);
}

typedef struct {
    sc_instance_t              *inst;
    const char                 *realm;
    const char                 *domains[MAX_DOMAINS];
    int                         ndomains;
    challenge_t                 challenge;
    bool                        own_aor_only;
    struct kept_nonces         *kn;        /* kept across reloads (sc_kept) */
    char                        kn_key[80];
    users_t                    *users;
    const sc_credentials_api_t *creds;
    struct event               *purge;
    sc_metric_t                *m_challenges, *m_ok;
    int                         nalgs;
    const char                 *algs[2];     /* offered, in order: "SHA-256", "MD5" */
} auth_t;

/* by reason: a client's mistake, an old nonce, or someone guessing
 * (asked for again, the instance's series is the same one) */
static void count_failure(auth_t *a, const char *reason)
{
    char label[64];
    snprintf(label, sizeof(label), "reason=\"%s\"", reason);
    sc_metric_add(sc_instance_counter(a->inst, "sipchain_auth_failures_total",
                                      "requests whose credentials were refused, by reason", label),
                  1);
}

static int da_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "realm", "users", "domains", "challenge", "nonce_lifetime",
                                        "secret", "own_aor_only", "algorithms", NULL };
    auth_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -1;
    sc_instance_set_data(inst, a);
    a->inst = inst;
    a->own_aor_only = true;
    a->m_challenges = sc_instance_counter(inst, "sipchain_auth_challenges_total",
                                          "401/407 challenges sent", NULL);
    a->m_ok = sc_instance_counter(inst, "sipchain_auth_successes_total", "requests authenticated",
                                  NULL);
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    const sc_conf_node_t *n;
    if ((n = sc_conf_get(conf, "realm")) == NULL)
        return sc_conf_error(err, errlen, conf, "digest-auth needs \"realm\"");
    if (sc_conf_string(n, &a->realm, err, errlen))
        return -1;
    if (strchr(a->realm, '"') || strchr(a->realm, '\\'))
        return sc_conf_error(err, errlen, n, "realm must not contain '\"' or '\\'");
    if ((n = sc_conf_get(conf, "domains")))
        for (const sc_conf_node_t *d = sc_conf_first(n); d; d = sc_conf_next(d)) {
            if (a->ndomains == MAX_DOMAINS)
                return sc_conf_error(err, errlen, d, "at most %d domains", MAX_DOMAINS);
            if (sc_conf_string(d, &a->domains[a->ndomains++], err, errlen))
                return -1;
        }
    if (a->ndomains == 0)
        a->domains[a->ndomains++] = a->realm;
    if ((n = sc_conf_get(conf, "challenge"))) {
        const char *c;
        if (sc_conf_string(n, &c, err, errlen))
            return -1;
        if (strcmp(c, "auto") && strcmp(c, "www") && strcmp(c, "proxy"))
            return sc_conf_error(err, errlen, n, "challenge is auto, www or proxy, not \"%s\"", c);
        a->challenge = c[0] == 'w' ? CH_WWW : c[0] == 'p' ? CH_PROXY : CH_AUTO;
    }
    unsigned long life = 300;
    if ((n = sc_conf_get(conf, "nonce_lifetime")) && sc_conf_uint(n, 86400, &life, err, errlen))
        return -1;
    if (life < 5)
        return sc_conf_error(err, errlen, n, "nonce_lifetime must be at least 5 seconds");
    if ((n = sc_conf_get(conf, "own_aor_only")) && sc_conf_bool(n, &a->own_aor_only, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "algorithms"))) {
        for (const sc_conf_node_t *e = sc_conf_first(n); e; e = sc_conf_next(e)) {
            const char *alg;
            if (sc_conf_string(e, &alg, err, errlen))
                return -1;
            if (strcmp(alg, "SHA-256") != 0 && strcmp(alg, "MD5") != 0)
                return sc_conf_error(err, errlen, e, "algorithms are SHA-256 and MD5, not \"%s\"", alg);
            if (a->nalgs == 2 || (a->nalgs == 1 && strcmp(a->algs[0], alg) == 0))
                return sc_conf_error(err, errlen, e, "each algorithm once");
            a->algs[a->nalgs++] = alg;
        }
        if (a->nalgs == 0)
            return sc_conf_error(err, errlen, n, "\"algorithms\" must list SHA-256 and/or MD5");
    } else {
        a->algs[a->nalgs++] = "MD5";       /* what phones speak (above) */
    }
    const char *secret = NULL;
    if ((n = sc_conf_get(conf, "secret")) && sc_conf_string(n, &secret, err, errlen))
        return -1;
    /* the key names the secret by a hash, not in clear */
    unsigned h = 2166136261u;
    for (const char *p = secret ? secret : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    snprintf(a->kn_key, sizeof(a->kn_key), "nonces/%s%08x", secret ? "s" : "-", h);
    kept_nonces_t want = { .lifetime = (unsigned)life, .secret = secret };
    if ((a->kn = sc_kept(inst, a->kn_key, kn_make, kn_drop, &want)) == NULL)
        return sc_conf_error(err, errlen, conf, "no randomness for nonces");
    a->kn->nonces.lifetime = (unsigned)life;    /* the new configuration's, kept or not */
    if ((n = sc_conf_get(conf, "users"))) {
        const char *path;
        int plain = 0;
        char why[512];
        if (sc_conf_string(n, &path, err, errlen))
            return -1;
        if ((a->users = users_load(path, &plain, why, sizeof(why))) == NULL)
            return sc_conf_error(err, errlen, n, "users: %s", why);
        sc_instance_log(inst, SC_LOG_LEVEL_INFO, "%zu user(s) from %s", users_count(a->users), path);
        if (plain)
            sc_instance_log(inst, SC_LOG_LEVEL_WARN,
                            "%s: %d user(s) with a plaintext password: store ha1 / ha1_sha256 instead "
                            "(sipchain -a USER REALM prints them)", path, plain);
        if (sc_service_publish(inst, SC_CREDENTIALS_SERVICE, users_api(a->users)) != 0)
            return sc_conf_error(err, errlen, n, "another module already serves \"credentials\"");
    }
    return 0;
}

static void on_purge(evutil_socket_t fd, short what, void *arg)
{
    auth_t *a = arg;
    (void)fd;
    (void)what;
    nonces_purge(&a->kn->nonces, time(NULL));
}

static int da_start(sc_instance_t *inst)
{
    auth_t *a = sc_instance_data(inst);
    a->creds = sc_service_find(inst, SC_CREDENTIALS_SERVICE);
    if (a->creds == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "no credentials: give \"users:\" or load a module that serves them");
        return -1;
    }
    a->purge = event_new(sc_instance_base(inst), -1, EV_PERSIST, on_purge, a);
    struct timeval tv = { 10, 0 };
    return a->purge && event_add(a->purge, &tv) == 0 ? 0 : -1;
}

static void da_destroy(sc_instance_t *inst)
{
    auth_t *a = sc_instance_data(inst);
    if (a == NULL)
        return;
    if (a->purge)
        event_free(a->purge);
    if (a->kn)
        sc_kept_release(inst, a->kn_key, a->kn, kn_drop);
    users_free(a->users);
    free(a);
}

/* --- the check ------------------------------------------------------------ */

static bool method_is(const sc_req_t *req, const char *m)
{
    sc_str_t v = sc_req_method(req);
    return v.len == strlen(m) && memcmp(v.s, m, v.len) == 0;
}

static bool for_us(const auth_t *a, const sc_req_t *req)
{
    if (method_is(req, "REGISTER"))
        return true;
    sc_str_t user, host;
    if (sc_uri_user_host(sc_req_uri(req), &user, &host) != 0)
        return false;           /* tel: and the like: forwarded */
    if (user.len == 0)
        return true;            /* sip:host is the server itself */
    if (method_is(req, "INVITE"))
        return false;           /* a call to a user is passed on: 407 */
    for (int i = 0; i < a->ndomains; i++)
        if (sc_uri_matches(sc_req_uri(req), a->domains[i], NULL))
            return true;
    return false;
}

static bool offered(const auth_t *a, const char *alg)
{
    for (int i = 0; i < a->nalgs; i++)
        if (strcmp(a->algs[i], alg) == 0)
            return true;
    return false;
}

static void challenge(auth_t *a, sc_res_t *res, bool proxy, bool stale)
{
    char nonce[NONCE_LEN + 1], v[400];
    nonce_make(&a->kn->nonces, time(NULL), nonce);
    const char *name = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
    for (int i = 0; i < a->nalgs; i++) {
        snprintf(v, sizeof(v), "Digest realm=\"%s\", nonce=\"%s\", opaque=\"%s\", algorithm=%s, qop=\"auth\"%s",
                 a->realm, nonce, a->kn->opaque, a->algs[i], stale ? ", stale=true" : "");
        sc_res_add_header(res, name, v);
    }
    sc_metric_add(a->m_challenges, 1);
    sc_res_send(res, proxy ? 407 : 401, NULL);
}

static bool str_is(sc_str_t s, const char *c) { return s.len == strlen(c) && memcmp(s.s, c, s.len) == 0; }

/* The response the credentials should carry, for alg, into out (65). */
static int expected(auth_t *a, const sc_req_t *req, const sc_digest_creds_t *c, const char *user,
                    const char *alg, bool sess, char *out)
{
    char ha1[65], ha2[65], hbody[65];
    if (a->creds->ha1(a->creds, user, a->realm, alg, ha1) != 0)
        return -1;
    if (sess) {                             /* RFC 7616 §3.4.2 */
        char base[65];
        memcpy(base, ha1, sizeof(base));
        sc_str_t p[3] = { { base, strlen(base) }, c->nonce, c->cnonce };
        sc_digest_hash(alg, p, 3, ha1);
    }
    sc_str_t method = sc_req_method(req);
    if (str_is(c->qop, "auth-int")) {
        sc_str_t body = sc_req_body(req);
        sc_digest_hash(alg, &body, 1, hbody);
        sc_str_t p[3] = { method, c->uri, { hbody, strlen(hbody) } };
        sc_digest_hash(alg, p, 3, ha2);
    } else {
        sc_str_t p[2] = { method, c->uri };
        sc_digest_hash(alg, p, 2, ha2);
    }
    if (c->qop.len) {
        sc_str_t p[6] = { { ha1, strlen(ha1) }, c->nonce, c->nc, c->cnonce, c->qop, { ha2, strlen(ha2) } };
        return sc_digest_hash(alg, p, 6, out);
    }
    sc_str_t p[3] = { { ha1, strlen(ha1) }, c->nonce, { ha2, strlen(ha2) } };
    return sc_digest_hash(alg, p, 3, out);
}

static bool same_hex(sc_str_t got, const char *want)
{
    size_t n = strlen(want);
    unsigned char diff = got.len != n;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(((i < got.len ? got.s[i] : 0) | 32) ^ want[i]);
    return diff == 0;
}

static void da_handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    auth_t *a = sc_instance_data(inst);
    if (sc_req_trusted(req)) {              /* a trusted peer (guard): not challenged */
        sc_next(req);
        return;
    }
    if (method_is(req, "ACK") || method_is(req, "CANCEL")) {
        sc_req_remove_credentials(req, a->realm);
        sc_next(req);
        return;
    }
    bool proxy = a->challenge == CH_PROXY || (a->challenge == CH_AUTO && !for_us(a, req));
    sc_digest_creds_t c;
    if (sc_req_digest(req, proxy, a->realm, &c) != 0) {
        challenge(a, res, proxy, false);
        return;
    }
    time_t now = time(NULL);
    const char *alg = c.algorithm.len == 0 || str_is(c.algorithm, "MD5") || str_is(c.algorithm, "MD5-sess")
                          ? "MD5"
                      : str_is(c.algorithm, "SHA-256") || str_is(c.algorithm, "SHA-256-sess") ? "SHA-256"
                                                                                            : NULL;
    if (alg && !offered(a, alg))
        alg = NULL;                         /* not one we offer: refused as unsupported */
    bool sess = c.algorithm.len > 5 && memcmp(c.algorithm.s + c.algorithm.len - 5, "-sess", 5) == 0;
    char user[256], want[65], src[80];
    snprintf(src, sizeof(src), "%s:%u", sc_req_source_ip(req), sc_req_source_port(req));
    if (alg == NULL || c.username.len == 0 || c.username.len >= sizeof(user) || c.response.len == 0 ||
        (c.qop.len && (!(str_is(c.qop, "auth") || str_is(c.qop, "auth-int")) || c.nc.len == 0 ||
                       c.cnonce.len == 0))) {
        count_failure(a, "malformed");
        sc_res_send(res, 400, "Bad Request (incomplete or unsupported digest credentials)");
        return;
    }
    memcpy(user, c.username.s, c.username.len);
    user[c.username.len] = '\0';
    if (!sc_uri_same(c.uri, sc_req_uri(req))) {
        count_failure(a, "uri_mismatch");
        sc_res_send(res, 400, "Bad Request (digest uri is not the Request-URI)");
        return;
    }
    nonce_verdict_t v = nonce_check(&a->kn->nonces, c.nonce, now);
    if (v == NONCE_BAD || (v == NONCE_OK && !str_is(c.opaque, a->kn->opaque))) {
        if (v == NONCE_BAD)
            sc_instance_log(inst, SC_LOG_LEVEL_WARN, "%s from %s: a nonce we did not make", user, src);
        count_failure(a, "bad_nonce");
        challenge(a, res, proxy, false);
        return;
    }
    /* unknown user and wrong password: one answer, one amount of work.
     * An expired nonce (ours: its MAC verified) is checked too: stale=true
     * tells the UA to retry without asking its user (RFC 7616 §3.3), so it
     * is only said when the response was right for that nonce; a wrong
     * password with an old nonce is a wrong password.  (The opaque is not
     * asked of a stale nonce: a restart with a kept secret changes it.) */
    bool ok = expected(a, req, &c, user, alg, sess, want) == 0 && same_hex(c.response, want);
    if (ok && v == NONCE_STALE) {
        count_failure(a, "stale_nonce");
        challenge(a, res, proxy, true);
        return;
    }
    if (!ok) {
        sc_instance_log(inst, SC_LOG_LEVEL_WARN, "authentication failed for %s from %s", user, src);
        count_failure(a, "wrong_credentials");
        sc_event_emit(inst, SC_AUTH_FAILURE_EVENT,
                      &(sc_auth_event_t){ sc_req_source_ip(req), user, a->realm });
        challenge(a, res, proxy, false);
        return;
    }
    if (nonce_use(&a->kn->nonces, c.nonce, c.qop.len ? c.nc : (sc_str_t){ NULL, 0 }, now) != NONCE_OK) {
        sc_instance_log(inst, SC_LOG_LEVEL_WARN, "%s from %s: nonce replayed (nc %.*s)", user, src,
                        (int)c.nc.len, c.nc.s);
        count_failure(a, "replay");
        challenge(a, res, proxy, false);
        return;
    }
    sc_str_t to_user, to_host;
    if (a->own_aor_only && method_is(req, "REGISTER") &&
        (sc_uri_user_host(sc_req_to_uri(req), &to_user, &to_host) != 0 || !str_is(to_user, user))) {
        count_failure(a, "not_own_aor");
        sc_res_send(res, 403, "Forbidden (a user may register only its own address)");
        return;
    }
    sc_metric_add(a->m_ok, 1);
    sc_event_emit(inst, SC_AUTH_SUCCESS_EVENT, &(sc_auth_event_t){ sc_req_source_ip(req), user, a->realm });
    sc_req_set_user(req, user);
    sc_req_remove_credentials(req, a->realm);   /* c points into them: not used past here */
    sc_next(req);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "digest-auth",
    .version = "1.0",
    .create = da_create,
    .start = da_start,
    .handle = da_handle,
    .destroy = da_destroy,
};
