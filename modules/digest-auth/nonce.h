/*
 * nonce.h — digest nonces that cannot be forged or replayed.
 *
 * A nonce is hex(time | epoch | random | HMAC-SHA-256(key, the three)[:16]).
 * The HMAC makes it unforgeable; the time bounds its life; the epoch
 * (random per instance) tells ours from an earlier process's or config's:
 * those are stale (the UA re-authenticates without asking its user) when
 * the key is kept across restarts (config "secret"), and unknown when not.
 * Replay: the nc counts used per nonce are kept for its lifetime: each
 * count is accepted once, in any order within a window of 64 below the
 * highest (pipelined requests overtake each other), and a nonce used
 * without qop is used up.
 */
#ifndef DA_NONCE_H
#define DA_NONCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sipchain.h>

#define NONCE_LEN 80            /* hex chars */

typedef enum { NONCE_OK, NONCE_STALE, NONCE_BAD, NONCE_REPLAY } nonce_verdict_t;

typedef struct seen seen_t;
typedef struct {
    unsigned char key[32];
    unsigned char epoch[8];
    unsigned      lifetime;
    seen_t      **tab;
    size_t        cap, count;
} nonces_t;

int             nonces_init(nonces_t *n, const char *secret, unsigned lifetime);
void            nonces_fini(nonces_t *n);
void            nonce_make(nonces_t *n, time_t now, char *out /* NONCE_LEN + 1 */);
/* Checks a nonce's make, age and epoch (not its use). */
nonce_verdict_t nonce_check(const nonces_t *n, sc_str_t nonce, time_t now);
/* Records a use: nc (hex, empty without qop) must not have been used
 * with this nonce before, nor be 64 or more below the highest used.
 * NONCE_OK or NONCE_REPLAY. */
nonce_verdict_t nonce_use(nonces_t *n, sc_str_t nonce, sc_str_t nc, time_t now);
/* Forgets the uses of nonces past their lifetime. */
void            nonces_purge(nonces_t *n, time_t now);

#endif
