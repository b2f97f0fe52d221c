/* respond.c — see respond.h. */
#include "respond.h"

#include <arpa/inet.h>

#include "sc_auto_config.h"
#include "sip_metrics.h"

sc_msg_t *sc_respond_build(const sc_msg_t *req, const sc_source_t *src, unsigned status,
                           const char *reason, const char *to_tag, const char *server)
{
    sc_msg_t *r = sc_msg_new_response_to(req, status, sc_str_cstr(reason), sc_str_cstr(to_tag));
    if (r == NULL)
        return NULL;
    if (sc_msg_stamp_via(r, src->peer.ip, src->peer.port) != 0 ||
        (server && sc_msg_add_header(r, SC_STR_LIT("Server"), sc_str_cstr(server), NULL) != 0)) {
        sc_msg_free(r);
        return NULL;
    }
    return r;
}

int sc_respond_send(const sc_source_t *src, const sc_msg_t *resp)
{
    sc_source_t flow = *src;
    sc_flow_for_response(&flow, resp->via);
    sc_str_t out = sc_msg_serialize(resp);
    sc_sipm_message(SC_SIPM_TX, resp);
    return out.s ? sc_flow_send(&flow, out.s, out.len) : -1;
}
