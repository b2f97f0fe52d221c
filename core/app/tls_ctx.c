/*
 * tls_ctx.c — TLS contexts for modules that open connections of their
 * own (the drachtio module's application listener and its tls://
 * outbound connections): the same material and policy as the core's tls:
 * listeners, so a certificate that works for SIP works there too.
 */
#include "sipchain.h"
#include "transport.h"

struct ssl_ctx_st *sc_tls_server_ctx(const char *cert, const char *key, const char *ca,
                                     bool verify_client, char *err, size_t errlen)
{
    sc_tls_opts_t t = { .cert = cert, .key = key, .ca = ca, .verify_client = verify_client };
    return sc_tls_context(&t, err, errlen);
}

struct ssl_ctx_st *sc_tls_client_ctx(const char *ca, bool verify, char *err, size_t errlen)
{
    return sc_tls_client_context(ca, verify, err, errlen);
}
