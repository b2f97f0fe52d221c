/*
 * auth.c — what a module that authenticates needs from the core: the
 * digest credentials a request carries (parsed by the core, RFC 7616
 * §3.4), the hashes, an HMAC and randomness (OpenSSL stays out of module
 * code), and the identity it establishes for the modules after it.
 */
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chain_impl.h"
#include "digest.h"

int sc_req_digest(const sc_req_t *req, bool proxy, const char *realm, sc_digest_creds_t *out)
{
    const sc_msg_t *m = req->msg;
    for (const sc_digest_t *d = proxy ? m->proxy_authorization : m->authorization; d; d = d->next) {
        if (!d->is_digest || (realm && !sc_str_eq_c(d->realm, realm)))
            continue;
        *out = (sc_digest_creds_t){ .username = d->username, .realm = d->realm, .nonce = d->nonce,
                                    .uri = d->uri, .response = d->response,
                                    .algorithm = d->algorithm, .cnonce = d->cnonce, .qop = d->qop,
                                    .nc = d->nc, .opaque = d->opaque };
        return 0;
    }
    return -1;
}

int sc_req_remove_credentials(sc_req_t *req, const char *realm)
{
    sc_msg_t *m = req->msg;
    int n = 0;
    for (sc_hdr_t *h = m->hdr_first, *next; h; h = next) {
        next = h->next;
        if (h->id != SC_HDR_AUTHORIZATION && h->id != SC_HDR_PROXY_AUTHORIZATION)
            continue;
        sc_digest_t d;
        if (sc_digest_parse(&d, h->value) == NULL && d.is_digest && sc_str_eq_c(d.realm, realm)) {
            sc_msg_unlink_header(m, h);
            n++;
        }
    }
    return n;
}

int sc_digest_hash(const char *alg, const sc_str_t *parts, size_t n, char *out)
{
    sc_digest_alg_t a;
    if (alg == NULL || strcasecmp(alg, "MD5") == 0)
        a = SC_DIGEST_MD5;
    else if (strcasecmp(alg, "SHA-256") == 0)
        a = SC_DIGEST_SHA256;
    else
        return -1;
    sc_digest_hex(a, parts, n, out);
    return 0;
}

void sc_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char *out)
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &olen);
}

int sc_random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int sc_req_set_user(sc_req_t *req, const char *user)
{
    char *u = user ? strdup(user) : NULL;
    if (user && u == NULL)
        return -1;
    free(req->user);
    req->user = u;
    return 0;
}

const char *sc_req_user(const sc_req_t *req) { return req->user; }

const char *sc_conf_key(const sc_conf_node_t *n) { return n ? n->key : NULL; }
