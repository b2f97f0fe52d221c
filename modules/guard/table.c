/* table.c — the bounded table of table.h: open hashing into a fixed
 * array of chains, entries preallocated, a recency list for reuse. */
#include <stdlib.h>
#include <string.h>

#include <sipchain.h>

#include "table.h"

struct table {
    entry_t       *entries;     /* max of them */
    size_t         max, used;
    entry_t      **heads;       /* nheads (a power of two) chains */
    size_t         nheads;
    entry_t       *newest, *oldest;
    uint64_t       seed;
    table_evict_cb evict;
    void          *arg;
};

static size_t slot(const table_t *t, const uint8_t *key)
{
    uint64_t h = t->seed ^ 0xcbf29ce484222325ull;     /* FNV-1a from a secret start */
    for (int i = 0; i < KEY_LEN; i++)
        h = (h ^ key[i]) * 0x100000001b3ull;
    h ^= h >> 33;                                   /* spread the high bits down */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (size_t)h & (t->nheads - 1);
}

table_t *table_new(size_t max, table_evict_cb evict, void *arg)
{
    table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->max = max ? max : 1;
    for (t->nheads = 16; t->nheads < t->max; t->nheads <<= 1)
        ;
    t->entries = calloc(t->max, sizeof(entry_t));
    t->heads = calloc(t->nheads, sizeof(entry_t *));
    if (t->entries == NULL || t->heads == NULL || sc_random(&t->seed, sizeof(t->seed)) != 0) {
        table_free(t);
        return NULL;
    }
    t->evict = evict;
    t->arg = arg;
    return t;
}

void table_free(table_t *t)
{
    if (t == NULL)
        return;
    free(t->entries);
    free(t->heads);
    free(t);
}

static void unlink_recent(table_t *t, entry_t *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    e->older = e->newer = NULL;
}

static void push_newest(table_t *t, entry_t *e)
{
    e->older = t->newest;
    e->newer = NULL;
    if (t->newest)
        t->newest->newer = e;
    t->newest = e;
    if (t->oldest == NULL)
        t->oldest = e;
}

entry_t *table_find(table_t *t, const uint8_t key[KEY_LEN])
{
    for (entry_t *e = t->heads[slot(t, key)]; e; e = e->hnext)
        if (memcmp(e->key, key, KEY_LEN) == 0) {
            if (t->newest != e) {
                unlink_recent(t, e);
                push_newest(t, e);
            }
            return e;
        }
    return NULL;
}

static void unhash(table_t *t, entry_t *e)
{
    for (entry_t **p = &t->heads[slot(t, e->key)]; *p; p = &(*p)->hnext)
        if (*p == e) {
            *p = e->hnext;
            return;
        }
}

entry_t *table_add(table_t *t, const uint8_t key[KEY_LEN])
{
    entry_t *e;
    if (t->used < t->max) {
        e = &t->entries[t->used++];
    } else {
        e = t->oldest;
        if (t->evict)
            t->evict(e, t->arg);
        unhash(t, e);
        unlink_recent(t, e);
    }
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, KEY_LEN);
    size_t s = slot(t, key);
    e->hnext = t->heads[s];
    t->heads[s] = e;
    push_newest(t, e);
    return e;
}

size_t table_count(const table_t *t) { return t->used; }
