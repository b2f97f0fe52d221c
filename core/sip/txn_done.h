/*
 * txn_done.h — completed non-INVITE server transactions, in their
 * smallest form.
 *
 * Over UDP a non-INVITE server transaction stays Completed for timer J
 * (64*T1: 32 s) only so that a retransmission of its request gets the
 * same answer again (RFC 3261 §17.2.2).  A registrar taking 5 000
 * REGISTERs a second holds 160 000 of them; kept whole (request, parse
 * pool, three timers, the flow) each costs several kilobytes.  Once the
 * TU has let go, all that is needed is the §17.2.3 match key, the bytes
 * of the answer and where they went.  This store keeps exactly that, one
 * record after the other in large blocks: no allocation per record, one
 * timer for all, and memory given back a block at a time — records
 * expire first in, first out, since every one lives the same timer J.
 *
 * Only what RFC 3261 branches identify goes here (the RFC 2543 fallback
 * needs the whole request), over unreliable transports (reliable ones
 * have timer J = 0).  The transaction layer owns the store.
 */
#ifndef SC_TXN_DONE_H
#define SC_TXN_DONE_H

#include "txn.h"

typedef struct sc_txn_done sc_txn_done_t;

/* What §17.2.3 matches an RFC 3261 request on; hash is the layer's. */
typedef struct {
    uint32_t hash;
    sc_str_t branch, host, method;
    uint16_t port;
} sc_txn_done_key_t;

sc_txn_done_t *sc_txn_done_new(sc_clock_t *clock);
void           sc_txn_done_free(sc_txn_done_t *d);
/* Keeps the answer out (sent along the UDP flow) for retransmissions of
 * the request key names until the clock reads expires (or a little
 * later: expiry never goes backwards).  -1 when it cannot (no memory, a
 * key or answer too long for a record): the caller keeps the transaction
 * whole. */
int            sc_txn_done_add(sc_txn_done_t *d, const sc_txn_done_key_t *key,
                               const sc_source_t *flow, const char *out, size_t outlen,
                               uint64_t expires);
/* A retransmission of a kept request: its answer sent again through
 * send, and true.  false when no record matches. */
bool           sc_txn_done_answer(sc_txn_done_t *d, const sc_txn_done_key_t *key,
                                  sc_txn_send_fn send, void *send_ctx);
unsigned       sc_txn_done_count(const sc_txn_done_t *d);

#endif
