/* fuzz_uri.c — libFuzzer target for URIs and name-addrs: parse, compare
 * with itself (equality must be reflexive) and unescape. */
#include <stdlib.h>
#include <string.h>

#include "sip_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_str_t text = sc_str((const char *)data, size);
    sc_uri_t u;
    if (sc_uri_parse(&u, text) == NULL) {
        if (!sc_uri_equal(&u, &u))
            abort();
        char *buf = malloc(size ? size : 1);
        (void)sc_uri_unescape(u.user, buf);
        (void)sc_uri_unescape(u.params, buf);
        free(buf);
    }
    sc_addr_t a;
    (void)sc_addr_parse(&a, text);
    sc_pool_t *pool = sc_pool_create(1024);
    sc_via_t *via = NULL, **vt = &via;
    (void)sc_via_parse(pool, text, &vt);
    sc_addr_t *list = NULL, **at = &list;
    bool star = false;
    (void)sc_addr_list_parse(pool, text, true, &star, &at);
    sc_pool_destroy(pool);
    return 0;
}
