/* cidr.c — addresses and ranges of cidr.h, over inet_pton. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int addr_parse(const char *s, addr_t *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, s, out->a) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out->a) != 1)
        return -1;
    out->family = 6;
    if (memcmp(out->a, v4mapped, sizeof(v4mapped)) == 0) {
        memmove(out->a, out->a + 12, 4);
        memset(out->a + 4, 0, 12);
        out->family = 4;
    }
    return 0;
}

void addr_mask(addr_t *a, unsigned bits)
{
    unsigned max = a->family == 4 ? 32 : 128;
    for (unsigned i = bits; i < max; i++)
        a->a[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

int cidr_parse(const char *s, cidr_t *out)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (addr_parse(buf, &out->addr) != 0)
        return -1;
    bool mapped = out->addr.family == 4 && strchr(buf, ':') != NULL;
    unsigned max = out->addr.family == 4 && !mapped ? 32 : 128;
    unsigned long bits = max;
    if (slash) {
        char *end;
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        bits = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || bits > max)
            return -1;
    }
    if (mapped) {           /* ::ffff:a.b.c.d/N: the IPv4 range of its last 32 bits */
        if (bits < 96)
            return -1;
        bits -= 96;
    }
    out->bits = (uint8_t)bits;
    addr_t masked = out->addr;
    addr_mask(&masked, out->bits);
    /* "192.0.2.1/24" is a typo for one of two things: refuse it */
    return memcmp(&masked, &out->addr, sizeof(masked)) == 0 ? 0 : -1;
}

bool cidr_match(const cidr_t *c, const addr_t *a)
{
    if (c->addr.family != a->family)
        return false;
    addr_t m = *a;
    addr_mask(&m, c->bits);
    return memcmp(m.a, c->addr.a, sizeof(m.a)) == 0;
}

void addr_format(const addr_t *a, char *out, size_t cap)
{
    if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, out, (socklen_t)cap) == NULL && cap)
        out[0] = '\0';
}

bool cidr_list_match(const cidr_list_t *l, const addr_t *a)
{
    for (size_t i = 0; i < l->n; i++)
        if (cidr_match(&l->v[i], a))
            return true;
    return false;
}
