/* sc_pool.c — see sc_pool.h.  The pool header and its first block are one
 * malloc, so a message that fits its first block costs a single allocation. */
#include "sc_pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SC_POOL_ALIGN 16

typedef struct sc_pool_block {
    struct sc_pool_block *next;
    size_t                size;
    size_t                used;
    _Alignas(SC_POOL_ALIGN) unsigned char data[];
} sc_pool_block_t;

struct sc_pool {
    sc_pool_block_t *current;   /* allocations come from here */
    sc_pool_block_t *extra;     /* every other block, for destroy */
    size_t           block_size;
    size_t           handed_out;
    sc_pool_block_t  first;     /* must stay last: its data[] follows */
};

sc_pool_t *sc_pool_create(size_t block_size)
{
    if (block_size < 256)
        block_size = 256;
    sc_pool_t *p = malloc(sizeof(*p) + block_size);
    if (p == NULL)
        return NULL;
    p->first.next = NULL;
    p->first.size = block_size;
    p->first.used = 0;
    p->current = &p->first;
    p->extra = NULL;
    p->block_size = block_size;
    p->handed_out = 0;
    return p;
}

void sc_pool_destroy(sc_pool_t *p)
{
    if (p == NULL)
        return;
    sc_pool_block_t *b = p->extra;
    while (b) {
        sc_pool_block_t *next = b->next;
        free(b);
        b = next;
    }
    free(p);
}

void *sc_pool_alloc_raw(sc_pool_t *p, size_t size)
{
    size_t need = (size + SC_POOL_ALIGN - 1) & ~(size_t)(SC_POOL_ALIGN - 1);
    if (need < size)
        return NULL;
    sc_pool_block_t *b = p->current;
    if (b->size - b->used < need) {
        size_t bs = need > p->block_size / 4 ? need : p->block_size / 4;
        b = malloc(sizeof(*b) + bs);
        if (b == NULL)
            return NULL;
        b->size = bs;
        b->used = 0;
        b->next = p->extra;
        p->extra = b;
        /* A block made for one oversized request would leave the current
         * block's free tail unused if it became current; keep the fuller
         * one as current only when the new block has more room left. */
        if (bs - need > p->current->size - p->current->used)
            p->current = b;
    }
    void *r = b->data + b->used;
    b->used += need;
    p->handed_out += need;
    return r;
}

void *sc_pool_alloc(sc_pool_t *p, size_t size)
{
    void *r = sc_pool_alloc_raw(p, size);
    if (r)
        memset(r, 0, size);
    return r;
}

char *sc_pool_memdup(sc_pool_t *p, const void *src, size_t n)
{
    char *r = sc_pool_alloc(p, n + 1);
    if (r == NULL)
        return NULL;
    if (n)
        memcpy(r, src, n);
    r[n] = '\0';
    return r;
}

size_t sc_pool_used(const sc_pool_t *p)
{
    return p->handed_out;
}
