/*
 * dns_msg.h — the DNS wire format (RFC 1035 §4) for the records RFC 3263
 * needs: A, AAAA, SRV (RFC 2782) and NAPTR (RFC 3403).  Building a query
 * and reading an answer, name compression included, every length
 * checked: an answer is untrusted input.  No I/O here; the resolver
 * (next) sends and receives on the event loop.
 */
#ifndef SC_DNS_MSG_H
#define SC_DNS_MSG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SC_DNS_A = 1,
    SC_DNS_AAAA = 28,
    SC_DNS_SRV = 33,
    SC_DNS_NAPTR = 35,
} sc_dns_type_t;

#define SC_DNS_NAME_MAX 256

typedef struct {
    sc_dns_type_t type;
    uint32_t      ttl;
    char          name[SC_DNS_NAME_MAX];    /* the owner, lower case, no final dot */
    union {
        struct in_addr  a;
        struct in6_addr aaaa;
        struct {
            uint16_t priority, weight, port;
            char     target[SC_DNS_NAME_MAX];
        } srv;
        struct {
            uint16_t order, preference;
            char     flags[16], service[48];
            char     replacement[SC_DNS_NAME_MAX];
        } naptr;
    } u;
} sc_dns_rr_t;

/* A query for name (no final dot needed) and type, recursion desired,
 * into out.  Returns its length, 0 when the name is not a valid name or
 * out is too small. */
size_t sc_dns_query(uint16_t id, const char *name, sc_dns_type_t type, uint8_t *out, size_t cap);

/* Reads the answer to query id: every A, AAAA, SRV and NAPTR record of
 * the answer and additional sections (others skipped) into rrs[max].
 * Returns how many, with the response code in *rcode (0 NOERROR, 3
 * NXDOMAIN ...), or -1 when it is not a well-formed answer to id. */
int sc_dns_parse(const uint8_t *msg, size_t len, uint16_t id, int *rcode, sc_dns_rr_t *rrs, int max);

/* RFC 2308 §5: how long a negative answer (NXDOMAIN, or no record of
 * the type asked) may be kept: the lesser of the TTL and MINIMUM of the
 * SOA record in its authority section; -1 when it carries none (or is
 * not a well-formed answer). */
long sc_dns_negative_ttl(const uint8_t *msg, size_t len);

/* RFC 2782: SRV records in the order to try: priority ascending, and
 * within a priority a weighted random draw (rnd gives uniform 32-bit
 * numbers; tests pass their own). */
void sc_dns_srv_sort(sc_dns_rr_t *srv, int n, uint32_t (*rnd)(void));

#endif
