/* table.h — the per-source (and per-user) state, in a table of fixed
 * size: a flood from ever new addresses reuses the least recently seen
 * entry instead of growing memory.  One hash lookup per request; the
 * hash is seeded at random per instance so that a sender cannot choose
 * addresses that collide.
 *
 * Ownership: the table owns its entries (one allocation, made at
 * creation); an entry pointer is valid until the next table_add. */
#ifndef GUARD_TABLE_H
#define GUARD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bucket.h"

#define KEY_LEN 17      /* a family byte and 16 address (or hashed user) bytes */

typedef enum {
    BLOCK_NONE,
    BLOCK_RATE,         /* stayed over the request rate */
    BLOCK_AUTH,         /* too many failed authentications */
    BLOCK_USER_AGENT,   /* a scanner's User-Agent */
    BLOCK_MALFORMED,    /* stayed over the rate with messages that do not parse */
    BLOCK__N
} block_reason_t;

typedef struct entry {
    uint8_t        key[KEY_LEN];
    uint8_t        reason;          /* block_reason_t; BLOCK_NONE: not blocked */
    char           name[64];        /* for the log: "192.0.2.1", "2001:db8::/64", "alice@realm" */
    bucket_t       bucket;
    uint32_t       refused;         /* requests over the rate, in a row (see guard.c) */
    uint64_t       last_refused_ms;
    uint32_t       failures;        /* failed authentications in this window */
    uint64_t       window_ms;       /* when the window began */
    uint32_t       level;           /* blocks for authentication so far: the backoff */
    uint64_t       until_ms;        /* blocked until */
    struct entry  *hnext;           /* the hash chain */
    struct entry  *older, *newer;   /* recency: the oldest is reused first */
    struct entry  *bprev, *bnext;   /* the blocked list (block.c) */
} entry_t;

typedef struct table table_t;
/* An entry about to be reused for another key (blocked ones too). */
typedef void (*table_evict_cb)(entry_t *e, void *arg);

table_t *table_new(size_t max, table_evict_cb evict, void *arg);
void     table_free(table_t *t);
/* The entry of key (made the most recent), or NULL. */
entry_t *table_find(table_t *t, const uint8_t key[KEY_LEN]);
/* A fresh zeroed entry for key (not already there): a free one, or the
 * least recently used after evict.  Never NULL. */
entry_t *table_add(table_t *t, const uint8_t key[KEY_LEN]);
size_t   table_count(const table_t *t);

#endif
