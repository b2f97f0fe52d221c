/* digest.c — see digest.h. */
#include "digest.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

void sc_digest_hex(sc_digest_alg_t alg, const sc_str_t *parts, size_t n, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    out[0] = '\0';
    if (ctx == NULL)
        return;
    EVP_DigestInit_ex(ctx, alg == SC_DIGEST_SHA256 ? EVP_sha256() : EVP_md5(), NULL);
    for (size_t i = 0; i < n; i++) {
        if (i)
            EVP_DigestUpdate(ctx, ":", 1);
        if (parts[i].len)
            EVP_DigestUpdate(ctx, parts[i].s, parts[i].len);
    }
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* MD5, MD5-sess, SHA-256, SHA-256-sess (absent means MD5). */
static bool alg_of(sc_str_t a, sc_digest_alg_t *alg, bool *sess)
{
    *sess = a.len > 5 && sc_mem_caseeq(a.s + a.len - 5, "-sess", 5);
    if (*sess)
        a.len -= 5;
    if (a.len == 0 || sc_str_caseeq_c(a, "MD5"))
        *alg = SC_DIGEST_MD5;
    else if (sc_str_caseeq_c(a, "SHA-256"))
        *alg = SC_DIGEST_SHA256;
    else
        return false;
    return true;
}

int sc_digest_pick(const sc_msg_t *resp, sc_digest_t *ch, sc_digest_alg_t *alg, bool *sess)
{
    sc_hdr_id_t id = resp->status == 407 ? SC_HDR_PROXY_AUTHENTICATE : SC_HDR_WWW_AUTHENTICATE;
    bool found = false;
    for (const sc_hdr_t *h = resp->hdr[id]; h; h = h->next_same) {
        sc_digest_t d;
        sc_digest_alg_t a;
        bool s;
        if (sc_digest_parse(&d, h->value) != NULL || !d.is_digest || d.nonce.len == 0 ||
            !alg_of(d.algorithm, &a, &s))
            continue;
        if (!found || (a == SC_DIGEST_SHA256 && *alg != SC_DIGEST_SHA256)) {
            *ch = d;
            *alg = a;
            *sess = s;
            found = true;
        }
    }
    return found ? 0 : -1;
}

/* Whether the challenge's qop list offers "auth". */
static bool offers_auth(sc_str_t qop)
{
    for (size_t i = 0; i < qop.len;) {
        while (i < qop.len && (qop.s[i] == ' ' || qop.s[i] == ','))
            i++;
        size_t j = i;
        while (j < qop.len && qop.s[j] != ',' && qop.s[j] != ' ')
            j++;
        if (j - i == 4 && sc_mem_caseeq(qop.s + i, "auth", 4))
            return true;
        i = j;
    }
    return false;
}

size_t sc_digest_answer(const sc_digest_t *ch, sc_digest_alg_t alg, bool sess, sc_str_t method,
                        sc_str_t uri, const char *user, const char *password, uint32_t nc,
                        char *out, size_t cap)
{
    char ha1[65], ha2[65], resp[65], cnonce[17], ncs[9];
    sc_gen_tag(cnonce, 16);
    snprintf(ncs, sizeof(ncs), "%08x", nc);
    sc_str_t p1[] = { sc_str_cstr(user), ch->realm, sc_str_cstr(password) };
    sc_digest_hex(alg, p1, 3, ha1);
    if (sess) {
        sc_str_t ps[] = { sc_str_cstr(ha1), ch->nonce, sc_str_cstr(cnonce) };
        sc_digest_hex(alg, ps, 3, ha1);
    }
    sc_str_t p2[] = { method, uri };
    sc_digest_hex(alg, p2, 2, ha2);
    bool qop = offers_auth(ch->qop);
    if (qop) {
        sc_str_t pr[] = { sc_str_cstr(ha1), ch->nonce, sc_str_cstr(ncs), sc_str_cstr(cnonce),
                          SC_STR_LIT("auth"), sc_str_cstr(ha2) };
        sc_digest_hex(alg, pr, 6, resp);
    } else {
        sc_str_t pr[] = { sc_str_cstr(ha1), ch->nonce, sc_str_cstr(ha2) };
        sc_digest_hex(alg, pr, 3, resp);
    }
    int n = snprintf(out, cap, "Digest username=\"%s\", realm=\"%.*s\", nonce=\"%.*s\", uri=\"%.*s\", "
                               "response=\"%s\"%s%.*s",
                     user, SC_STR_FMT(ch->realm), SC_STR_FMT(ch->nonce), SC_STR_FMT(uri), resp,
                     ch->algorithm.len ? ", algorithm=" : "", SC_STR_FMT(ch->algorithm));
    if (n > 0 && (size_t)n < cap && qop)
        n += snprintf(out + n, cap - (size_t)n, ", qop=auth, nc=%s, cnonce=\"%s\"", ncs, cnonce);
    if (n > 0 && (size_t)n < cap && ch->opaque.len)
        n += snprintf(out + n, cap - (size_t)n, ", opaque=\"%.*s\"", SC_STR_FMT(ch->opaque));
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
