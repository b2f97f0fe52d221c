/*
 * nonce.c — the nonces (nonce.h).  The uses seen are in a chained hash
 * table keyed by the nonce's random part, purged as nonces age out.
 *
 * Per nonce: the highest nc used and a bitmap of which of the NC_WINDOW
 * counts below it were used too (bit k: highest - k), the sliding window of
 * IPsec's anti-replay check (RFC 4303 §3.4.3).  Requests pipelined on one
 * nonce may arrive in another order than their nc (UDP, or a TCP
 * connection lost and replaced): each count is accepted once, in any
 * order, as long as it is within the window below the highest; a count
 * used before, or one fallen out of the window, is a replay.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nonce.h"

#define NC_WINDOW 64            /* counts below the highest still accepted */

struct seen {
    unsigned char id[16];       /* epoch | random */
    uint32_t      nc;           /* the highest used; UINT32_MAX: used without qop */
    uint64_t      used;         /* bit k: nc - k used (bit 0: nc itself) */
    time_t        born;
    seen_t       *next;
};

#define RAW_LEN 40              /* time 8 | epoch 8 | random 8 | mac 16 */

int nonces_init(nonces_t *n, const char *secret, unsigned lifetime)
{
    memset(n, 0, sizeof(*n));
    n->lifetime = lifetime;
    if (secret)     /* a kept key: nonces of earlier runs verify, and are stale */
        sc_hmac_sha256("sipchain nonce key", 18, secret, strlen(secret), n->key);
    else if (sc_random(n->key, sizeof(n->key)) != 0)
        return -1;
    if (sc_random(n->epoch, sizeof(n->epoch)) != 0)
        return -1;
    n->cap = 1024;
    n->tab = calloc(n->cap, sizeof(*n->tab));
    return n->tab ? 0 : -1;
}

void nonces_fini(nonces_t *n)
{
    for (size_t i = 0; n->tab && i < n->cap; i++)
        for (seen_t *s = n->tab[i], *x; s; s = x) {
            x = s->next;
            free(s);
        }
    free(n->tab);
    n->tab = NULL;
}

static void mac(const nonces_t *n, const unsigned char *raw, unsigned char *out)
{
    unsigned char full[32];
    sc_hmac_sha256(n->key, sizeof(n->key), raw, 24, full);
    memcpy(out, full, 16);
}

void nonce_make(nonces_t *n, time_t now, char *out)
{
    unsigned char raw[RAW_LEN];
    uint64_t t = (uint64_t)now;
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)(t >> (56 - 8 * i));
    memcpy(raw + 8, n->epoch, 8);
    if (sc_random(raw + 16, 8) != 0)
        memset(raw + 16, 0, 8);         /* still unique enough with time; never happens */
    mac(n, raw, raw + 24);
    for (int i = 0; i < RAW_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static int unhex(sc_str_t s, unsigned char *raw)
{
    if (s.len != NONCE_LEN)
        return -1;
    for (size_t i = 0; i < RAW_LEN; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s.s[2 * i + (size_t)k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        raw[i] = (unsigned char)v;
    }
    return 0;
}

nonce_verdict_t nonce_check(const nonces_t *n, sc_str_t nonce, time_t now)
{
    unsigned char raw[RAW_LEN], want[16];
    if (unhex(nonce, raw) != 0)
        return NONCE_BAD;
    mac(n, raw, want);
    unsigned char diff = 0;                 /* constant time */
    for (int i = 0; i < 16; i++)
        diff |= (unsigned char)(want[i] ^ raw[24 + i]);
    if (diff)
        return NONCE_BAD;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | raw[i];
    if ((time_t)t > now + 5)
        return NONCE_BAD;
    if (memcmp(raw + 8, n->epoch, 8) != 0 || (time_t)t + (time_t)n->lifetime < now)
        return NONCE_STALE;
    return NONCE_OK;
}

static size_t slot(const nonces_t *n, const unsigned char *id)
{
    uint64_t h = 0;
    memcpy(&h, id + 8, 8);                  /* the random part: already uniform */
    return (size_t)(h & (n->cap - 1));
}

static void grow(nonces_t *n)
{
    size_t cap = n->cap * 2;
    seen_t **tab = calloc(cap, sizeof(*tab));
    if (tab == NULL)
        return;
    nonces_t bigger = *n;
    bigger.cap = cap;
    for (size_t i = 0; i < n->cap; i++)
        for (seen_t *s = n->tab[i], *x; s; s = x) {
            x = s->next;
            size_t at = slot(&bigger, s->id);
            s->next = tab[at];
            tab[at] = s;
        }
    free(n->tab);
    n->tab = tab;
    n->cap = cap;
}

/* Records count against s's window: NONCE_OK the first time, else
 * NONCE_REPLAY. */
static nonce_verdict_t nc_mark(seen_t *s, uint32_t count)
{
    if (s->nc == UINT32_MAX)
        return NONCE_REPLAY;                /* used up without qop */
    if (count == UINT32_MAX) {              /* without qop after uses with it: the last use */
        s->nc = UINT32_MAX;
        return NONCE_OK;
    }
    if (count > s->nc) {
        uint32_t shift = count - s->nc;
        s->used = shift >= NC_WINDOW ? 1 : s->used << shift | 1;
        s->nc = count;
        return NONCE_OK;
    }
    uint32_t back = s->nc - count;
    if (back >= NC_WINDOW || (s->used >> back & 1))
        return NONCE_REPLAY;
    s->used |= (uint64_t)1 << back;
    return NONCE_OK;
}

nonce_verdict_t nonce_use(nonces_t *n, sc_str_t nonce, sc_str_t nc, time_t now)
{
    unsigned char raw[RAW_LEN];
    if (unhex(nonce, raw) != 0)
        return NONCE_REPLAY;
    uint32_t count = UINT32_MAX;            /* no qop: one use */
    if (nc.len) {
        if (nc.len != 8)
            return NONCE_REPLAY;
        count = 0;
        for (size_t i = 0; i < 8; i++) {
            char c = nc.s[i] | 32;
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return NONCE_REPLAY;
            count = count << 4 | (uint32_t)d;
        }
        if (count == 0 || count == UINT32_MAX)
            return NONCE_REPLAY;
    }
    seen_t *s = n->tab[slot(n, raw + 8)];
    while (s && memcmp(s->id, raw + 8, 16) != 0)
        s = s->next;
    if (s)
        return nc_mark(s, count);
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return NONCE_REPLAY;                /* cannot remember it: do not accept it */
    memcpy(s->id, raw + 8, 16);
    s->nc = count;
    s->used = 1;
    s->born = now;
    size_t at = slot(n, s->id);
    s->next = n->tab[at];
    n->tab[at] = s;
    if (++n->count > n->cap)
        grow(n);
    return NONCE_OK;
}

void nonces_purge(nonces_t *n, time_t now)
{
    for (size_t i = 0; i < n->cap; i++)
        for (seen_t **pp = &n->tab[i]; *pp;) {
            seen_t *s = *pp;
            if (s->born + (time_t)n->lifetime + 10 < now) {
                *pp = s->next;
                free(s);
                n->count--;
            } else {
                pp = &s->next;
            }
        }
}
