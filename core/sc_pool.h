/*
 * sc_pool.h — an arena for memory that lives exactly as long as one object
 * (a message, a transaction, a dialog).  Allocation is a pointer bump;
 * nothing is freed individually; sc_pool_destroy() frees it all at once.
 *
 * Ownership: the pool owns every block it hands out.  The object that
 * created the pool destroys it.
 */
#ifndef SC_POOL_H
#define SC_POOL_H

#include <stddef.h>

typedef struct sc_pool sc_pool_t;

/* block_size is the size of the first block; the following ones are a
 * quarter of it (a message that outgrows its first block, as a forwarded
 * request with a Via and a Record-Route more does, needs only a little
 * more — and lives 32 s in an INVITE transaction), and a larger request
 * gets a block of its own. */
sc_pool_t *sc_pool_create(size_t block_size);
void       sc_pool_destroy(sc_pool_t *pool);

/* Zeroed memory aligned for any scalar type, or NULL when out of memory. */
void      *sc_pool_alloc(sc_pool_t *pool, size_t size);
/* The same without zeroing, for a caller that sets every field itself. */
void      *sc_pool_alloc_raw(sc_pool_t *pool, size_t size);
/* A copy of n bytes plus a terminating NUL (not counted in n). */
char      *sc_pool_memdup(sc_pool_t *pool, const void *src, size_t n);
/* Bytes handed out so far (for limits and tests). */
size_t     sc_pool_used(const sc_pool_t *pool);

#endif
