/*
 * txn_done.c — the store of completed non-INVITE server transactions;
 * see txn_done.h.
 *
 * Records are appended to blocks mapped straight from the kernel (not
 * malloc: glibc would serve a freed block's successor from its heap and
 * never give the pages back); the oldest record is at the head.  When
 * the head moves past the end of a block the block is unmapped.  A
 * chained hash table over the records finds a retransmission's.
 */
#include "txn_done.h"
#include "sc_str.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BLOCK_SIZE (256u * 1024u)

/* The key's strings are nearly always in the answer already (its Via
 * repeats the request's branch and sent-by host, its CSeq the method):
 * a record points at them there, and carries its own copy only of what
 * the answer lacks. */
typedef struct rec {
    struct rec    *hnext;
    uint64_t       expires;
    sc_listener_t *listener;
    uint32_t       hash;
    uint16_t       port;            /* the Via's sent-by port (the key's) */
    uint16_t       outlen, extra;   /* the answer; key bytes not found in it */
    uint16_t       branch_at, host_at, method_at;   /* offsets into answer + extra */
    uint8_t        branch_len, host_len, method_len, addr_len;
    uint8_t        local_len;       /* a wildcard socket: the address it left from */
    /* the peer's sockaddr (addr_len), our local one (local_len), the
     * answer, the extra key bytes */
    char           data[];
} rec_t;

typedef struct block {
    struct block *next;
    size_t        used;             /* octets of data taken by records */
    char          data[];           /* 8-aligned: after two 8-octet fields */
} block_t;

struct sc_txn_done {
    sc_timer_t  timer;              /* due when the head record expires */
    block_t    *head, *tail;        /* oldest block first */
    size_t      head_at;            /* the oldest record in head */
    uint64_t    last;               /* the latest expiry given */
    rec_t     **buckets;
    size_t      nbuckets;           /* power of two */
    unsigned    count;
};

static const size_t block_room = BLOCK_SIZE - offsetof(block_t, data);

static size_t rec_size(size_t addr, size_t out, size_t extra)
{
    size_t n = offsetof(rec_t, data) + addr + out + extra;
    return (n + alignof(rec_t) - 1) & ~(alignof(rec_t) - 1);
}

static size_t rec_len(const rec_t *r)
{
    return rec_size((size_t)r->addr_len + r->local_len, r->outlen, r->extra);
}

static const char *rec_out(const rec_t *r) { return r->data + r->addr_len + r->local_len; }
static sc_str_t rec_branch(const rec_t *r) { return sc_str(rec_out(r) + r->branch_at, r->branch_len); }
static sc_str_t rec_host(const rec_t *r) { return sc_str(rec_out(r) + r->host_at, r->host_len); }
static sc_str_t rec_method(const rec_t *r) { return sc_str(rec_out(r) + r->method_at, r->method_len); }

/* Where v's bytes are in the answer, or 0 with *copy set (empty strings
 * are anywhere). */
static size_t find(const char *out, size_t outlen, sc_str_t v, bool *copy)
{
    const char *at = v.len ? memmem(out, outlen, v.s, v.len) : out;
    *copy = at == NULL;
    return at ? (size_t)(at - out) : 0;
}

static bool rec_matches(const rec_t *r, const sc_txn_done_key_t *k)
{
    return r->hash == k->hash && r->port == k->port && sc_str_eq(k->branch, rec_branch(r)) &&
           sc_str_caseeq(k->host, rec_host(r)) && sc_str_eq(k->method, rec_method(r));
}

static void unmap(block_t *b)
{
    munmap(b, BLOCK_SIZE);
}

/* Drops the oldest record: out of its bucket, and its block once the
 * head has passed the last record in it. */
static void pop(sc_txn_done_t *d)
{
    rec_t *r = (rec_t *)(d->head->data + d->head_at);
    for (rec_t **p = &d->buckets[r->hash & (d->nbuckets - 1)]; *p; p = &(*p)->hnext)
        if (*p == r) {
            *p = r->hnext;
            break;
        }
    d->count--;
    d->head_at += rec_len(r);
    if (d->head_at < d->head->used)
        return;
    block_t *b = d->head;
    if (b->next) {
        d->head = b->next;
        unmap(b);
    } else {
        b->used = 0;                    /* the only block, empty: reused */
    }
    d->head_at = 0;
}

static void arm(sc_txn_done_t *d)
{
    if (d->count == 0)
        return;
    const rec_t *r = (const rec_t *)(d->head->data + d->head_at);
    uint64_t now = sc_clock_now(d->timer.clock);
    sc_timer_arm(&d->timer, r->expires > now ? r->expires - now : 0);
}

static void on_expiry(void *arg)
{
    sc_txn_done_t *d = arg;
    uint64_t now = sc_clock_now(d->timer.clock);
    while (d->count && ((const rec_t *)(d->head->data + d->head_at))->expires <= now)
        pop(d);
    arm(d);
}

sc_txn_done_t *sc_txn_done_new(sc_clock_t *clock)
{
    sc_txn_done_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->buckets = calloc(d->nbuckets = 1024, sizeof(*d->buckets))) == NULL) {
        free(d);
        return NULL;
    }
    sc_timer_init(&d->timer, clock, on_expiry, d);
    return d;
}

void sc_txn_done_free(sc_txn_done_t *d)
{
    if (d == NULL)
        return;
    sc_timer_fini(&d->timer);
    for (block_t *b = d->head, *n; b; b = n) {
        n = b->next;
        unmap(b);
    }
    free(d->buckets);
    free(d);
}

static void grow(sc_txn_done_t *d)
{
    size_t n = d->nbuckets * 2;
    rec_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;                         /* longer chains, still correct */
    for (size_t i = 0; i < d->nbuckets; i++)
        for (rec_t *r = d->buckets[i], *nx; r; r = nx) {
            nx = r->hnext;
            r->hnext = b[r->hash & (n - 1)];
            b[r->hash & (n - 1)] = r;
        }
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = n;
}

/* Room for need octets at the tail, a new block when the tail is full. */
static rec_t *take(sc_txn_done_t *d, size_t need)
{
    block_t *t = d->tail;
    if (t == NULL || t->used + need > block_room) {
        void *m = mmap(NULL, BLOCK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        block_t *b = m;
        b->next = NULL;
        b->used = 0;
        if (t)
            t->next = b;
        else
            d->head = b;
        d->tail = t = b;
    }
    rec_t *r = (rec_t *)(t->data + t->used);
    t->used += need;
    return r;
}

int sc_txn_done_add(sc_txn_done_t *d, const sc_txn_done_key_t *k, const sc_source_t *flow,
                    const char *out, size_t outlen, uint64_t expires)
{
    size_t alen = flow->peer.len;
    if (flow->kind != SC_TP_UDP || k->branch.len > UINT8_MAX || k->host.len > UINT8_MAX ||
        k->method.len > UINT8_MAX || alen > UINT8_MAX || outlen > UINT16_MAX)
        return -1;
    bool copy[3];
    sc_str_t key[3] = { k->branch, k->host, k->method };
    size_t at[3], extra = 0;
    for (int i = 0; i < 3; i++) {
        at[i] = find(out, outlen, key[i], &copy[i]);
        if (copy[i]) {
            at[i] = outlen + extra;
            extra += key[i].len;
        }
    }
    /* an answer from a wildcard socket goes again from the same address */
    size_t llen = flow->local.sa.sa_family ? sizeof(flow->local) : 0;
    size_t need = rec_size(alen + llen, outlen, extra);
    if (need > block_room || outlen + extra > UINT16_MAX)
        return -1;
    rec_t *r = take(d, need);
    if (r == NULL)
        return -1;
    if (expires < d->last)
        expires = d->last;              /* first in, first out */
    d->last = expires;
    r->expires = expires;
    r->listener = flow->listener;
    r->hash = k->hash;
    r->port = k->port;
    r->outlen = (uint16_t)outlen;
    r->extra = (uint16_t)extra;
    r->branch_at = (uint16_t)at[0];
    r->host_at = (uint16_t)at[1];
    r->method_at = (uint16_t)at[2];
    r->branch_len = (uint8_t)k->branch.len;
    r->host_len = (uint8_t)k->host.len;
    r->method_len = (uint8_t)k->method.len;
    r->addr_len = (uint8_t)alen;
    r->local_len = (uint8_t)llen;
    memcpy(r->data, &flow->peer.addr, alen);
    memcpy(r->data + alen, &flow->local, llen);
    char *o = r->data + alen + llen;
    memcpy(o, out, outlen);
    for (int i = 0; i < 3; i++)
        if (copy[i])
            memcpy(o + at[i], key[i].s, key[i].len);
    if (d->count >= d->nbuckets)
        grow(d);
    rec_t **head = &d->buckets[k->hash & (d->nbuckets - 1)];
    r->hnext = *head;
    *head = r;
    if (d->count++ == 0)
        arm(d);
    return 0;
}

bool sc_txn_done_answer(sc_txn_done_t *d, const sc_txn_done_key_t *k, sc_txn_send_fn send,
                        void *send_ctx)
{
    for (const rec_t *r = d->buckets[k->hash & (d->nbuckets - 1)]; r; r = r->hnext) {
        if (!rec_matches(r, k))
            continue;
        sc_source_t flow = { .kind = SC_TP_UDP, .listener = r->listener };
        memcpy(&flow.peer.addr, r->data, r->addr_len);
        memcpy(&flow.local, r->data + r->addr_len, r->local_len);
        flow.peer.len = r->addr_len;
        if (r->addr_len)
            sc_peer_describe(&flow.peer);
        send(send_ctx, &flow, rec_out(r), r->outlen);
        return true;
    }
    return false;
}

unsigned sc_txn_done_count(const sc_txn_done_t *d)
{
    return d->count;
}
