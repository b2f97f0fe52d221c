/*
 * sip_ident.c — tags and branches (RFC 3261 §19.3, §8.1.1.7).
 *
 * Tags need "at least 32 bits of randomness" and branches must be unique
 * across space and time; both come from OpenSSL's CSPRNG so that neither
 * can be guessed by a peer trying to inject into a dialog or transaction.
 * The CSPRNG is asked for 512 octets at a time, not per id: its fixed
 * cost per call (about 7 000 instructions) was a third of what the server
 * spent on a request a guard drops.  The reserve is per thread (a worker
 * loop each); the process never forks after start, so no two processes
 * hand out the same reserve.
 */
#include "sip_msg.h"

#include <openssl/rand.h>
#include <stdlib.h>

static _Thread_local struct {
    unsigned char raw[512];
    size_t        used;             /* octets of raw handed out */
} reserve = { .used = sizeof(reserve.raw) };

/* One random octet from the reserve; each octet is handed out once and
 * wiped. */
static unsigned random_octet(void)
{
    if (reserve.used == sizeof(reserve.raw)) {
        if (RAND_bytes(reserve.raw, (int)sizeof(reserve.raw)) != 1)
            abort();        /* no entropy: refusing beats predictable ids */
        reserve.used = 0;
    }
    unsigned v = reserve.raw[reserve.used];
    reserve.raw[reserve.used++] = 0;
    return v;
}

static void random_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t done = 0; done < n; done += 2) {
        unsigned v = random_octet();
        out[done] = hex[v >> 4];
        if (done + 1 < n)
            out[done + 1] = hex[v & 15];
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
