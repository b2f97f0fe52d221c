/*
 * msg_derive.c — requests a client transaction derives from the one it
 * sent: the ACK for a non-2xx final response (RFC 3261 §17.1.1.3) and
 * CANCEL (§9.1).  Both travel the same hop as the original: the same
 * single top Via (so the same branch), Request-URI, Call-ID, From, CSeq
 * number and Route set.
 */
#include "sip_msg.h"

#include <stdio.h>

/* The request line and the headers both derivations copy unchanged. */
static sc_msg_t *derive(const sc_msg_t *req, sc_method_t method, const sc_msg_t *resp)
{
    sc_msg_t *m = sc_msg_new_request(method, SC_STR_NULL, req->ruri_str);
    if (m == NULL || req->via == NULL || !req->has_cseq)
        goto fail;
    char cseq[32];
    snprintf(cseq, sizeof(cseq), "%u %s", req->cseq.num, sc_method_name(method));
    if (sc_msg_add_header(m, SC_STR_LIT("Via"), req->via->raw, NULL) != 0)
        goto fail;
    for (const sc_hdr_t *h = req->hdr_first; h; h = h->next) {
        sc_str_t value = h->value;
        switch (h->id) {
        case SC_HDR_TO:
            /* §17.1.1.3: the ACK's To is the response's (with its tag) */
            if (resp && resp->hdr[SC_HDR_TO])
                value = resp->hdr[SC_HDR_TO]->value;
            break;
        case SC_HDR_FROM: case SC_HDR_CALL_ID: case SC_HDR_ROUTE:
            break;
        case SC_HDR_CSEQ:
            value = sc_str_cstr(cseq);
            break;
        default:
            continue;
        }
        if (sc_msg_add_header(m, h->name, value, NULL) != 0)
            goto fail;
    }
    if (sc_msg_add_header(m, SC_STR_LIT("Max-Forwards"), SC_STR_LIT("70"), NULL) != 0)
        goto fail;
    return m;
fail:
    sc_msg_free(m);
    return NULL;
}

sc_msg_t *sc_msg_ack_for(const sc_msg_t *invite, const sc_msg_t *resp)
{
    return derive(invite, SC_METHOD_ACK, resp);
}

sc_msg_t *sc_msg_cancel_for(const sc_msg_t *req)
{
    return derive(req, SC_METHOD_CANCEL, NULL);
}
