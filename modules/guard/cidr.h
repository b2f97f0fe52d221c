/* cidr.h — addresses and address ranges (CIDR, IPv4 and IPv6) for the
 * allow, deny and trusted lists and for the key of a source.  An
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1, what a dual-stack socket
 * reports) is the IPv4 address. */
#ifndef GUARD_CIDR_H
#define GUARD_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t family;     /* 4 or 6 */
    uint8_t a[16];      /* IPv4 in the first 4 bytes, the rest 0 */
} addr_t;

typedef struct {
    addr_t  addr;       /* bits past the prefix are 0 */
    uint8_t bits;       /* prefix length: 0-32 or 0-128 */
} cidr_t;

/* A numeric address: 0, or -1. */
int  addr_parse(const char *s, addr_t *out);
/* "192.0.2.0/24", "2001:db8::/32", or an address alone (/32, /128):
 * 0, or -1 (not an address, prefix too long, bits set past it). */
int  cidr_parse(const char *s, cidr_t *out);
bool cidr_match(const cidr_t *c, const addr_t *a);
/* a with every bit past the first bits cleared (its network). */
void addr_mask(addr_t *a, unsigned bits);
/* a in text ("2001:db8::", "192.0.2.1"), into out (46 bytes). */
void addr_format(const addr_t *a, char *out, size_t cap);

/* A list of ranges, searched in order (kept short: a few dozen). */
typedef struct {
    cidr_t *v;
    size_t  n;
} cidr_list_t;
bool cidr_list_match(const cidr_list_t *l, const addr_t *a);

#endif
