/* fuzz_dns.c — libFuzzer target for DNS answers (sc_dns_parse): they
 * come off the network, so any bytes must be refused or read within
 * bounds, and what is read must be usable (names NUL-terminated). */
#include <string.h>

#include "dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_dns_rr_t rrs[16];
    int rcode;
    uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
    int n = sc_dns_parse(data, size, id, &rcode, rrs, 16);
    volatile size_t sink = 0;
    for (int i = 0; i < n; i++) {
        sink += strlen(rrs[i].name);
        if (rrs[i].type == SC_DNS_SRV)
            sink += strlen(rrs[i].u.srv.target);
        if (rrs[i].type == SC_DNS_NAPTR)
            sink += strlen(rrs[i].u.naptr.replacement) + strlen(rrs[i].u.naptr.service);
    }
    (void)sink;
    return 0;
}
