/* dns_msg.c — see dns_msg.h. */
#include "dns_msg.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

size_t sc_dns_query(uint16_t id, const char *name, sc_dns_type_t type, uint8_t *out, size_t cap)
{
    size_t nlen = strlen(name), at = 12;
    if (nlen && name[nlen - 1] == '.')
        nlen--;
    if (nlen == 0 || nlen > 253 || cap < 12 + nlen + 2 + 4)
        return 0;
    memset(out, 0, 12);
    out[0] = (uint8_t)(id >> 8);
    out[1] = (uint8_t)id;
    out[2] = 0x01;                  /* RD */
    out[5] = 1;                     /* one question */
    for (size_t i = 0; i < nlen;) {
        size_t j = i;
        while (j < nlen && name[j] != '.')
            j++;
        if (j == i || j - i > 63)
            return 0;               /* an empty or over-long label */
        out[at++] = (uint8_t)(j - i);
        memcpy(out + at, name + i, j - i);
        at += j - i;
        i = j + 1;
    }
    out[at++] = 0;
    out[at++] = (uint8_t)(type >> 8);
    out[at++] = (uint8_t)type;
    out[at++] = 0;
    out[at++] = 1;                  /* class IN */
    return at;
}

/* Reads a (possibly compressed) name at *pos into out (lower case, dots
 * between labels); *pos moves past it in place.  -1 on any malformation,
 * pointer loops included. */
static int read_name(const uint8_t *m, size_t len, size_t *pos, char *out)
{
    size_t p = *pos, o = 0;
    int jumps = 0;
    bool jumped = false;
    for (;;) {
        if (p >= len)
            return -1;
        uint8_t l = m[p];
        if ((l & 0xc0) == 0xc0) {
            if (p + 1 >= len || ++jumps > 32)
                return -1;
            if (!jumped)
                *pos = p + 2;
            jumped = true;
            p = ((size_t)(l & 0x3f) << 8) | m[p + 1];
            continue;
        }
        if (l & 0xc0)
            return -1;
        p++;
        if (l == 0)
            break;
        if (p + l > len || o + l + 2 > SC_DNS_NAME_MAX)
            return -1;
        if (o)
            out[o++] = '.';
        for (uint8_t i = 0; i < l; i++)
            out[o++] = (char)tolower(m[p + i]);
        p += l;
    }
    out[o] = '\0';
    if (!jumped)
        *pos = p;
    return 0;
}

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A <character-string> (RFC 1035 §3.3) into out[cap]. */
static int read_string(const uint8_t *m, size_t end, size_t *pos, char *out, size_t cap)
{
    if (*pos >= end)
        return -1;
    size_t l = m[*pos];
    if (*pos + 1 + l > end || l >= cap)
        return -1;
    memcpy(out, m + *pos + 1, l);
    out[l] = '\0';
    *pos += 1 + l;
    return 0;
}

static int read_rdata(const uint8_t *m, size_t len, size_t p, size_t rdlen, sc_dns_rr_t *rr)
{
    size_t end = p + rdlen;
    switch (rr->type) {
    case SC_DNS_A:
        if (rdlen != 4)
            return -1;
        memcpy(&rr->u.a, m + p, 4);
        return 0;
    case SC_DNS_AAAA:
        if (rdlen != 16)
            return -1;
        memcpy(&rr->u.aaaa, m + p, 16);
        return 0;
    case SC_DNS_SRV:
        if (rdlen < 7)
            return -1;
        rr->u.srv.priority = u16(m + p);
        rr->u.srv.weight = u16(m + p + 2);
        rr->u.srv.port = u16(m + p + 4);
        p += 6;
        return read_name(m, len, &p, rr->u.srv.target) == 0 && p <= end ? 0 : -1;
    case SC_DNS_NAPTR: {
        char regexp[256];
        if (rdlen < 7)
            return -1;
        rr->u.naptr.order = u16(m + p);
        rr->u.naptr.preference = u16(m + p + 2);
        p += 4;
        if (read_string(m, end, &p, rr->u.naptr.flags, sizeof(rr->u.naptr.flags)) ||
            read_string(m, end, &p, rr->u.naptr.service, sizeof(rr->u.naptr.service)) ||
            read_string(m, end, &p, regexp, sizeof(regexp)) ||
            read_name(m, len, &p, rr->u.naptr.replacement) || p > end)
            return -1;
        for (char *c = rr->u.naptr.flags; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        return 0;
    }
    }
    return -1;
}

int sc_dns_parse(const uint8_t *m, size_t len, uint16_t id, int *rcode, sc_dns_rr_t *rrs, int max)
{
    char name[SC_DNS_NAME_MAX];
    if (len < 12 || u16(m) != id || !(m[2] & 0x80))
        return -1;                  /* not a response to this query */
    *rcode = m[3] & 0x0f;
    unsigned qd = u16(m + 4), an = u16(m + 6), ns = u16(m + 8), ar = u16(m + 10);
    size_t p = 12;
    for (unsigned i = 0; i < qd; i++) {
        if (read_name(m, len, &p, name) || p + 4 > len)
            return -1;
        p += 4;
    }
    int n = 0;
    for (unsigned i = 0; i < an + ns + ar; i++) {
        if (read_name(m, len, &p, name) || p + 10 > len)
            return -1;
        uint16_t type = u16(m + p), class = u16(m + p + 2);
        uint32_t ttl = u32(m + p + 4);
        size_t rdlen = u16(m + p + 8);
        p += 10;
        if (p + rdlen > len)
            return -1;
        bool known = type == SC_DNS_A || type == SC_DNS_AAAA || type == SC_DNS_SRV ||
                     type == SC_DNS_NAPTR;
        bool authority = i >= an && i < an + ns;
        if (known && class == 1 && !authority && n < max) {
            sc_dns_rr_t *rr = &rrs[n];
            memset(rr, 0, sizeof(*rr));
            rr->type = (sc_dns_type_t)type;
            rr->ttl = ttl;
            memcpy(rr->name, name, sizeof(name));
            if (read_rdata(m, len, p, rdlen, rr) != 0)
                return -1;
            n++;
        }
        p += rdlen;
    }
    return n;
}

long sc_dns_negative_ttl(const uint8_t *m, size_t len)
{
    char name[SC_DNS_NAME_MAX];
    if (len < 12)
        return -1;
    unsigned qd = u16(m + 4), an = u16(m + 6), ns = u16(m + 8);
    size_t p = 12;
    for (unsigned i = 0; i < qd; i++) {
        if (read_name(m, len, &p, name) || p + 4 > len)
            return -1;
        p += 4;
    }
    for (unsigned i = 0; i < an + ns; i++) {
        if (read_name(m, len, &p, name) || p + 10 > len)
            return -1;
        uint16_t type = u16(m + p);
        uint32_t ttl = u32(m + p + 4);
        size_t rdlen = u16(m + p + 8);
        p += 10;
        if (p + rdlen > len)
            return -1;
        if (i >= an && type == 6) {             /* SOA: MNAME RNAME then five numbers */
            size_t q = p;
            if (read_name(m, len, &q, name) || read_name(m, len, &q, name) || q + 20 > p + rdlen)
                return -1;
            uint32_t minimum = u32(m + q + 16);
            return (long)(ttl < minimum ? ttl : minimum);
        }
        p += rdlen;
    }
    return -1;
}

void sc_dns_srv_sort(sc_dns_rr_t *srv, int n, uint32_t (*rnd)(void))
{
    /* by priority (insertion sort: a handful of records) */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && srv[j].u.srv.priority < srv[j - 1].u.srv.priority; j--) {
            sc_dns_rr_t t = srv[j];
            srv[j] = srv[j - 1];
            srv[j - 1] = t;
        }
    /* within each priority, RFC 2782's draw: pick with probability
     * weight / sum, zero weights first in line for a pick of 0 */
    for (int start = 0; start < n;) {
        int end = start;
        while (end < n && srv[end].u.srv.priority == srv[start].u.srv.priority)
            end++;
        for (int i = start; i < end - 1; i++) {
            /* the zero weights go first among those left (stable) */
            for (int j = i + 1, z = i; j < end; j++)
                if (srv[j].u.srv.weight == 0) {
                    while (z < j && srv[z].u.srv.weight == 0)
                        z++;
                    if (z < j) {
                        sc_dns_rr_t t = srv[j];
                        memmove(&srv[z + 1], &srv[z], (size_t)(j - z) * sizeof(*srv));
                        srv[z] = t;
                    }
                }
            uint32_t sum = 0;
            for (int j = i; j < end; j++)
                sum += srv[j].u.srv.weight;
            uint32_t pick = sum ? rnd() % (sum + 1) : 0, run = 0;
            int chosen = i;
            for (int j = i; j < end; j++) {
                run += srv[j].u.srv.weight;
                if (run >= pick) {
                    chosen = j;
                    break;
                }
            }
            sc_dns_rr_t t = srv[i];
            srv[i] = srv[chosen];
            srv[chosen] = t;
        }
        start = end;
    }
}
