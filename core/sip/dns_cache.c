/* dns_cache.c — see dns_cache.h. */
#include "dns_cache.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BUCKETS 256

typedef struct entry {
    struct entry *hnext;            /* hash chain */
    struct entry *older, *newer;    /* by insertion, for eviction */
    char          name[SC_DNS_NAME_MAX];
    sc_dns_type_t type;
    int           rcode;
    uint64_t      expires;          /* ms */
    int           n;
    sc_dns_rr_t  *rrs;
} entry_t;

struct sc_dns_cache {
    unsigned  max, count;
    entry_t  *buckets[BUCKETS];
    entry_t  *oldest, *newest;
};

static unsigned hash(const char *name, sc_dns_type_t type)
{
    uint32_t h = 2166136261u ^ (uint32_t)type;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 16777619u;
    return h % BUCKETS;
}

sc_dns_cache_t *sc_dns_cache_new(unsigned max)
{
    sc_dns_cache_t *c = calloc(1, sizeof(*c));
    if (c)
        c->max = max;
    return c;
}

static void unlink_entry(sc_dns_cache_t *c, entry_t *e)
{
    for (entry_t **p = &c->buckets[hash(e->name, e->type)]; *p; p = &(*p)->hnext)
        if (*p == e) {
            *p = e->hnext;
            break;
        }
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->count--;
    free(e->rrs);
    free(e);
}

void sc_dns_cache_free(sc_dns_cache_t *c)
{
    if (c == NULL)
        return;
    while (c->oldest)
        unlink_entry(c, c->oldest);
    free(c);
}

uint32_t sc_dns_answer_ttl(int rcode, const sc_dns_rr_t *rrs, int n, long neg_ttl,
                           uint32_t dflt_neg, uint32_t max_ttl)
{
    uint32_t ttl;
    if (rcode == 0 && n > 0) {
        ttl = UINT32_MAX;
        for (int i = 0; i < n; i++)
            if (rrs[i].ttl < ttl)
                ttl = rrs[i].ttl;
    } else if (rcode == 0 || rcode == 3) {
        ttl = neg_ttl >= 0 ? (uint32_t)neg_ttl : dflt_neg;
    } else {
        return 0;
    }
    return ttl < max_ttl ? ttl : max_ttl;
}

static entry_t *find(sc_dns_cache_t *c, const char *name, sc_dns_type_t type)
{
    for (entry_t *e = c->buckets[hash(name, type)]; e; e = e->hnext)
        if (e->type == type && strcasecmp(e->name, name) == 0)
            return e;
    return NULL;
}

void sc_dns_cache_put(sc_dns_cache_t *c, const char *name, sc_dns_type_t type, int rcode,
                      const sc_dns_rr_t *rrs, int n, uint32_t ttl_s, uint64_t now_ms)
{
    if (c == NULL || strlen(name) >= SC_DNS_NAME_MAX)
        return;
    entry_t *old = find(c, name, type);
    if (old)
        unlink_entry(c, old);
    if (ttl_s == 0 || c->max == 0)
        return;
    if (c->count >= c->max) {           /* the expired first, else the oldest */
        for (entry_t *e = c->oldest, *nx; e; e = nx) {
            nx = e->newer;
            if (e->expires <= now_ms)
                unlink_entry(c, e);
        }
        while (c->count >= c->max)
            unlink_entry(c, c->oldest);
    }
    entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL || (n > 0 && (e->rrs = malloc(sizeof(*rrs) * (size_t)n)) == NULL)) {
        free(e);
        return;
    }
    for (size_t i = 0; name[i]; i++)
        e->name[i] = (char)tolower((unsigned char)name[i]);
    e->type = type;
    e->rcode = rcode;
    e->expires = now_ms + (uint64_t)ttl_s * 1000;
    e->n = n;
    if (n > 0)
        memcpy(e->rrs, rrs, sizeof(*rrs) * (size_t)n);
    entry_t **head = &c->buckets[hash(e->name, type)];
    e->hnext = *head;
    *head = e;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
}

int sc_dns_cache_get(sc_dns_cache_t *c, const char *name, sc_dns_type_t type, uint64_t now_ms,
                     int *rcode, sc_dns_rr_t *rrs, int max)
{
    entry_t *e = c ? find(c, name, type) : NULL;
    if (e == NULL)
        return -1;
    if (e->expires <= now_ms) {
        unlink_entry(c, e);
        return -1;
    }
    int n = e->n < max ? e->n : max;
    if (n > 0)
        memcpy(rrs, e->rrs, sizeof(*rrs) * (size_t)n);
    *rcode = e->rcode;
    return n;
}

unsigned sc_dns_cache_count(const sc_dns_cache_t *c)
{
    return c ? c->count : 0;
}
