/* respond.h — building an answer to a request and sending it where RFC
 * 3261 §18.2.2 says, for the core's own answers and for modules' alike. */
#ifndef SC_RESPOND_H
#define SC_RESPOND_H

#include "transport.h"

/* §8.2.6 response with a To tag (status > 100), a Server header with
 * the value server (none when NULL: server.server_header), and the top
 * Via stamped per RFC 3581 for src.  NULL when it cannot be built. */
sc_msg_t *sc_respond_build(const sc_msg_t *req, const sc_source_t *src, unsigned status,
                           const char *reason, const char *to_tag, const char *server);
/* Serialises and sends: on TCP over the arriving connection, on UDP to
 * the source address at rport or the sent-by port.  0 or -1. */
int sc_respond_send(const sc_source_t *src, const sc_msg_t *resp);

#endif
