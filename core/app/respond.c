/* respond.c — see respond.h. */
#include "respond.h"

#include <arpa/inet.h>

#include "sc_auto_config.h"

sc_msg_t *sc_respond_build(const sc_msg_t *req, const sc_source_t *src, unsigned status,
                           const char *reason, const char *to_tag)
{
    sc_msg_t *r = sc_msg_new_response_to(req, status, sc_str_cstr(reason), sc_str_cstr(to_tag));
    if (r == NULL)
        return NULL;
    if (sc_msg_stamp_via(r, src->peer.ip, src->peer.port) != 0 ||
        sc_msg_add_header(r, SC_STR_LIT("Server"), SC_STR_LIT("sipchain/" SC_VERSION), NULL) != 0) {
        sc_msg_free(r);
        return NULL;
    }
    return r;
}

/* RFC 3261 §18.2.2 with RFC 3581 §4: back to the source address, at the
 * source port when rport was asked for, else at the port in sent-by
 * (default 5060).  A top Via too broken to read (RFC 4475 badinv01,
 * badvers) leaves only the source port. */
int sc_respond_send(const sc_source_t *src, const sc_msg_t *resp)
{
    const sc_via_t *via = resp->via;
    struct sockaddr_storage to = src->peer.addr;
    uint16_t port = via == NULL || via->has_rport ? src->peer.port
                                                  : (via->port ? via->port : 5060);
    if (to.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&to)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)&to)->sin_port = htons(port);
    sc_str_t out = sc_msg_serialize(resp);
    if (out.s == NULL)
        return -1;
    return sc_source_reply(src, out.s, out.len, (struct sockaddr *)&to, src->peer.len);
}
