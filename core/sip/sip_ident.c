/*
 * sip_ident.c — tags and branches (RFC 3261 §19.3, §8.1.1.7).
 *
 * Tags need "at least 32 bits of randomness" and branches must be unique
 * across space and time; both come from OpenSSL's CSPRNG so that neither
 * can be guessed by a peer trying to inject into a dialog or transaction.
 */
#include "sip_msg.h"

#include <openssl/rand.h>
#include <stdlib.h>

static void random_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t done = 0;
    while (done < n) {
        size_t chunk = (n - done + 1) / 2;
        if (chunk > sizeof(raw))
            chunk = sizeof(raw);
        if (RAND_bytes(raw, (int)chunk) != 1)
            abort();        /* no entropy: refusing beats predictable ids */
        for (size_t i = 0; i < chunk * 2 && done < n; i++)
            out[done++] = hex[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
    }
    out[n] = '\0';
}

void sc_gen_tag(char *out, size_t len)
{
    random_hex(out, len);
}

void sc_gen_branch(char *out, size_t len)
{
    size_t c = sizeof(SC_BRANCH_COOKIE) - 1;
    if (len < c) {
        c = len;
    }
    memcpy(out, SC_BRANCH_COOKIE, c);
    random_hex(out + c, len - c);
}

bool sc_branch_is_rfc3261(sc_str_t b)
{
    size_t c = sizeof(SC_BRANCH_COOKIE) - 1;
    return b.len > c && memcmp(b.s, SC_BRANCH_COOKIE, c) == 0;
}
