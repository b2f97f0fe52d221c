/*
 * digest.h — HTTP Digest (RFC 7616, RFC 2617) as SIP uses it (RFC 3261
 * §22): the hashes, and the client's answer to a challenge.  The server
 * side (nonces, checking) builds on the same hashes.
 */
#ifndef SC_DIGEST_H
#define SC_DIGEST_H

#include "sip_msg.h"

typedef enum { SC_DIGEST_MD5, SC_DIGEST_SHA256 } sc_digest_alg_t;

/* Lower-case hex of H(the parts joined by ':'); out holds 65 chars. */
void sc_digest_hex(sc_digest_alg_t alg, const sc_str_t *parts, size_t n, char *out);

/* The best challenge of a 401/407 (SHA-256 over MD5), parsed into ch
 * from the response's WWW-Authenticate or Proxy-Authenticate headers.
 * -1 when it carries none we can answer. */
int sc_digest_pick(const sc_msg_t *resp, sc_digest_t *ch, sc_digest_alg_t *alg, bool *sess);

/* The Authorization / Proxy-Authorization value answering ch for a
 * request (method, uri) with user's password: qop=auth when offered
 * (with nc and a fresh cnonce), else the RFC 2069 form.  Returns the
 * length written, 0 when it did not fit. */
size_t sc_digest_answer(const sc_digest_t *ch, sc_digest_alg_t alg, bool sess, sc_str_t method,
                        sc_str_t uri, const char *user, const char *password, uint32_t nc,
                        char *out, size_t cap);

#endif
