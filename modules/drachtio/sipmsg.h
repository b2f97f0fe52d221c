/*
 * sipmsg.h — the SIP messages applications send (drachtio-srf writes
 * them as text: start line, headers, blank line, body), split into what
 * the core's calls take.  Lenient like drachtio-server: any line ending,
 * names in any case, no Content-Length needed (the frame bounds it).
 */
#ifndef DR_SIPMSG_H
#define DR_SIPMSG_H

#include <stdbool.h>
#include <sipchain.h>

#define DR_MAX_HDRS 128

typedef struct {
    sc_str_t name, value;
} dr_hdr_t;

typedef struct {
    bool     is_request;
    sc_str_t method, uri;       /* request */
    unsigned status;            /* response */
    sc_str_t reason;
    dr_hdr_t hdr[DR_MAX_HDRS];
    int      nhdr;
    sc_str_t body;
} dr_msg_t;

/* 0, or -1 with why (no start line, too many headers ...). */
int      dr_msg_parse(sc_str_t text, dr_msg_t *m, const char **why);
/* The first value of name (long or compact form, any case); empty when
 * absent. */
sc_str_t dr_msg_get(const dr_msg_t *m, const char *name);

/* What a message's headers become for the core: "Name: value" lines
 * (malloc'ed, NULL-terminated; free with dr_lines_free).  Left out: the
 * headers the server owns (Via, Route, Record-Route, RSeq,
 * Content-Length, Content-Type: given apart), those in skip (long forms),
 * and any whose name is not a token.  Names are written with a capital
 * after each dash (drachtio-srf lower-cases them).  "@localhost" in From,
 * To, Contact and P-Asserted-Identity becomes "@" + local (our
 * host:port).  NULL when out of memory. */
char   **dr_msg_lines(const dr_msg_t *m, const char *const *skip, const char *local);
void     dr_lines_free(char **lines);

/* The Content-Type for the body: the app's, else application/sdp for a
 * body starting "v=0", else NULL. */
const char *dr_msg_ctype(const dr_msg_t *m, char *buf, size_t cap);

#endif
