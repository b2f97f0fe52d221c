/*
 * tls.c — the TLS context of a tls: listener (RFC 3261 §26.2.1): the
 * server's certificate chain and key, TLS 1.2 at least, and when a CA is
 * given, client certificates checked against it (required with
 * verify_client); and the client side for connections a module opens
 * (the drachtio module towards an application listening with TLS).
 */
#include "transport_impl.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static void ssl_reason(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, file, e ? buf : "failed");
}

SSL_CTX *sc_tls_context(const sc_tls_opts_t *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        ssl_reason(err, errlen, "cannot load certificate", t->cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        ssl_reason(err, errlen, "cannot load key", t->key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "key %s does not match certificate %s", t->key, t->cert);
        goto fail;
    }
    if (t->ca) {
        if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
            ssl_reason(err, errlen, "cannot load CA", t->ca);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
                           (t->verify_client ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *sc_tls_client_context(const char *ca, bool verify, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (verify) {
        if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 : SSL_CTX_set_default_verify_paths(ctx) != 1) {
            ssl_reason(err, errlen, "cannot load CA", ca ? ca : "(system default)");
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

SSL_CTX *sc_tls_listener_client_context(const sc_tls_opts_t *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = sc_tls_client_context(t->server_ca, !t->no_verify_server, err, errlen);
    if (ctx == NULL)
        return NULL;
    /* offered when a peer asks (mutual TLS between proxies) */
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        ssl_reason(err, errlen, "cannot load client certificate", t->cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int sc_tls_check(const sc_tls_opts_t *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = sc_tls_context(t, err, errlen);
    SSL_CTX *cctx = ctx ? sc_tls_listener_client_context(t, err, errlen) : NULL;
    SSL_CTX_free(ctx);
    SSL_CTX_free(cctx);
    return cctx ? 0 : -1;
}
