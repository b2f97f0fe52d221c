/* bucket.c — the token bucket of bucket.h. */
#include "bucket.h"

void bucket_fill(bucket_t *b, uint32_t burst, uint64_t now_ms)
{
    b->milli = (uint64_t)burst * 1000;
    b->last_ms = now_ms;
}

bool bucket_take(bucket_t *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)burst * 1000;
    if (now_ms > b->last_ms) {
        /* rate tokens a second = rate thousandths a millisecond */
        uint64_t add = (now_ms - b->last_ms) * rate;
        b->milli = add >= cap - b->milli ? cap : b->milli + add;
        b->last_ms = now_ms;
    }
    if (b->milli < 1000)
        return false;
    b->milli -= 1000;
    return true;
}
