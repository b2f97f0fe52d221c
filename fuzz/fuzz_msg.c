/* fuzz_msg.c — libFuzzer target for the message parser, the stream framer
 * and the typed views a server reads off a parsed message.  Anything the
 * parser accepts is also serialised and parsed again: the builder must
 * write what the parser reads. */
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"

static void touch(const sc_msg_t *m)
{
    volatile size_t sink = 0;
    char buf[1024];
    for (const sc_addr_t *a = m->contact; a; a = a->next)
        if (a->uri.user.len <= sizeof(buf) && sc_uri_unescape(a->uri.user, buf) != (size_t)-1)
            sink += buf[0];
    if (m->from && m->to)
        sink += sc_uri_equal(&m->from->uri, &m->to->uri);
    for (const sc_hdr_t *h = m->hdr_first; h; h = h->next) {
        time_t t;
        sc_digest_t d;
        if (h->id == SC_HDR_DATE)
            sink += sc_date_parse(h->value, &t) == NULL;
        if (h->id == SC_HDR_WWW_AUTHENTICATE || h->id == SC_HDR_PROXY_AUTHENTICATE)
            sink += sc_digest_parse(&d, h->value) == NULL;
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_parse_err_t err;
    (void)sc_msg_frame((const char *)data, size, &sc_parse_limits_default, &err);

    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    sc_msg_t *m;
    int rc = sc_msg_parse(&m, buf, size, (size & 1) ? SC_TRANSPORT_STREAM : SC_TRANSPORT_DGRAM,
                          NULL, &err);
    if (m) {
        touch(m);
        if (m->is_request && m->via) {
            sc_msg_t *r = sc_msg_new_response_to(m, rc ? err.status : 200, SC_STR_NULL,
                                                 SC_STR_LIT("fz"));
            if (r)
                (void)sc_msg_serialize(r);
            sc_msg_free(r);
        }
        if (rc == 0) {
            sc_str_t out = sc_msg_serialize(m);
            if (out.s) {
                char *again = malloc(out.len);
                memcpy(again, out.s, out.len);
                sc_msg_t *m2;
                sc_parse_err_t err2;
                if (sc_msg_parse(&m2, again, out.len, SC_TRANSPORT_STREAM, NULL, &err2) != 0)
                    abort();    /* we wrote something we cannot read back */
                sc_msg_free(m2);
                free(again);
            }
        }
    }
    sc_msg_free(m);
    free(buf);
    return 0;
}
