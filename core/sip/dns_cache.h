/*
 * dns_cache.h — the resolver's memory of DNS answers (RFC 1035 §7.4,
 * RFC 2308): each answer, positive or negative, kept under its name and
 * type for its TTL, so that the next request to the same domain costs no
 * query.  No I/O and no clock of its own: the caller passes "now" in
 * milliseconds, so tests drive expiry by hand.
 *
 * Bounded: beyond max entries the expired go first, then the oldest.
 */
#ifndef SC_DNS_CACHE_H
#define SC_DNS_CACHE_H

#include <stdint.h>

#include "dns_msg.h"

typedef struct sc_dns_cache sc_dns_cache_t;

/* max: entries kept at most (0: nothing is ever kept). */
sc_dns_cache_t *sc_dns_cache_new(unsigned max);
void            sc_dns_cache_free(sc_dns_cache_t *c);

/* How long an answer may be kept, in seconds (0: not at all): a positive
 * one (n > 0) for the least TTL of its records; a negative one (rcode 3,
 * or no record) for neg_ttl (the SOA's, sc_dns_negative_ttl, or -1 when
 * it carried none: then dflt_neg); either capped at max_ttl.  Other
 * response codes (SERVFAIL, REFUSED ...) are not answers to keep. */
uint32_t sc_dns_answer_ttl(int rcode, const sc_dns_rr_t *rrs, int n, long neg_ttl,
                           uint32_t dflt_neg, uint32_t max_ttl);

/* Keeps (a copy of) the answer to name/type for ttl_s seconds from now_ms,
 * replacing what was there; ttl_s 0 keeps nothing. */
void sc_dns_cache_put(sc_dns_cache_t *c, const char *name, sc_dns_type_t type, int rcode,
                      const sc_dns_rr_t *rrs, int n, uint32_t ttl_s, uint64_t now_ms);

/* The answer kept for name/type (case-insensitive) and still fresh at
 * now_ms: its records into rrs[max] and how many (0: a negative answer,
 * with *rcode saying which), or -1 when there is none. */
int sc_dns_cache_get(sc_dns_cache_t *c, const char *name, sc_dns_type_t type, uint64_t now_ms,
                     int *rcode, sc_dns_rr_t *rrs, int max);

/* Entries held (expired ones not yet pushed out included). */
unsigned sc_dns_cache_count(const sc_dns_cache_t *c);

#endif
