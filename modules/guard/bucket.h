/* bucket.h — a token bucket: `rate` requests a second on average, up to
 * `burst` at once.  Tokens are kept in thousandths so that integer
 * arithmetic refills them smoothly; time is whatever millisecond clock
 * the caller passes (monotonic in the module, made up in tests). */
#ifndef GUARD_BUCKET_H
#define GUARD_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t milli;     /* tokens x 1000 */
    uint64_t last_ms;   /* when milli was last brought up to date */
} bucket_t;

/* A full bucket at now_ms. */
void bucket_fill(bucket_t *b, uint32_t burst, uint64_t now_ms);
/* Takes one token: true when there was one (the request is within the
 * rate), false when the bucket is empty. */
bool bucket_take(bucket_t *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

#endif
