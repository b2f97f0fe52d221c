/*
 * sip_msg.h — a SIP message: framing, parsing and building (RFC 3261 §7).
 *
 * A parsed message is views into the receive buffer it was parsed from;
 * the buffer must outlive the message.  Everything else (header list, typed
 * values) comes from the message's pool, freed by sc_msg_free().
 *
 * Headers are kept in wire order as a doubly linked list; for each known
 * header id the message also keeps the first occurrence, and the typed
 * values of the headers the stack needs are parsed eagerly.
 */
#ifndef SIP_MSG_H
#define SIP_MSG_H

#include "sip_hdr.h"

typedef enum {
    SC_HDR_OTHER = 0,
    SC_HDR_VIA,
    SC_HDR_FROM,
    SC_HDR_TO,
    SC_HDR_CALL_ID,
    SC_HDR_CSEQ,
    SC_HDR_MAX_FORWARDS,
    SC_HDR_CONTACT,
    SC_HDR_ROUTE,
    SC_HDR_RECORD_ROUTE,
    SC_HDR_CONTENT_LENGTH,
    SC_HDR_CONTENT_TYPE,
    SC_HDR_EXPIRES,
    SC_HDR_REQUIRE,
    SC_HDR_PROXY_REQUIRE,
    SC_HDR_SUPPORTED,
    SC_HDR_UNSUPPORTED,
    SC_HDR_AUTHORIZATION,
    SC_HDR_PROXY_AUTHORIZATION,
    SC_HDR_WWW_AUTHENTICATE,
    SC_HDR_PROXY_AUTHENTICATE,
    SC_HDR_DATE,
    SC_HDR_ALLOW,
    SC_HDR_ACCEPT,
    SC_HDR_ACCEPT_ENCODING,
    SC_HDR_ACCEPT_LANGUAGE,
    SC_HDR_CONTENT_ENCODING,
    SC_HDR_CONTENT_DISPOSITION,
    SC_HDR_CONTENT_LANGUAGE,
    SC_HDR_MIN_EXPIRES,
    SC_HDR_RETRY_AFTER,
    SC_HDR_SERVER,
    SC_HDR_USER_AGENT,
    SC_HDR_SUBJECT,
    SC_HDR_TIMESTAMP,
    SC_HDR_WARNING,
    SC_HDR_PATH,
    SC_HDR_EVENT,
    SC_HDR_ALLOW_EVENTS,
    SC_HDR_SUBSCRIPTION_STATE,
    SC_HDR_REFER_TO,
    SC_HDR_REFERRED_BY,
    SC_HDR_RSEQ,
    SC_HDR_RACK,
    SC_HDR_SESSION_EXPIRES,
    SC_HDR_MIN_SE,
    SC_HDR_REASON,
    SC_HDR_REPLY_TO,
    SC_HDR_ORGANIZATION,
    SC_HDR_PRIORITY,
    SC_HDR_IN_REPLY_TO,
    SC_HDR_ALERT_INFO,
    SC_HDR_CALL_INFO,
    SC_HDR_ERROR_INFO,
    SC_HDR_MIME_VERSION,
    SC_HDR_AUTHENTICATION_INFO,
    SC_HDR_ACCEPT_CONTACT,
    SC_HDR_REJECT_CONTACT,
    SC_HDR_REQUEST_DISPOSITION,
    SC_HDR_IDENTITY,
    SC_HDR_IDENTITY_INFO,
    SC_HDR__COUNT
} sc_hdr_id_t;

/* Maps a header name (any case, compact or long form) to its id. */
sc_hdr_id_t sc_hdr_lookup(const char *name, size_t len);
/* The canonical long name of a known header ("Call-ID"), NULL for OTHER. */
const char *sc_hdr_name(sc_hdr_id_t id);

typedef struct sc_hdr {
    sc_hdr_id_t    id;
    sc_str_t       name;    /* as written (or as added) */
    sc_str_t       value;   /* trimmed, unfolded */
    struct sc_hdr *next, *prev;
    struct sc_hdr *next_same; /* next header with the same id */
} sc_hdr_t;

/* Limits with a defined outcome (DESIGN §2): a message over max_size gets
 * 513; too many headers or an over-long line gets 400 naming the limit. */
typedef struct {
    size_t max_size;
    size_t max_headers;
    size_t max_line;
} sc_parse_limits_t;

extern const sc_parse_limits_t sc_parse_limits_default;

/* Why a message could not be accepted: the status a UAS would answer
 * (400, 505, 513, ...) and a reason phrase naming the defect. */
typedef struct {
    unsigned status;
    char     reason[120];
} sc_parse_err_t;

typedef enum {
    SC_TRANSPORT_DGRAM,     /* the datagram is the message (UDP) */
    SC_TRANSPORT_STREAM,    /* framed by Content-Length (TCP, TLS) */
} sc_framing_t;

typedef struct sc_msg {
    sc_pool_t  *pool;       /* owns everything below but buf */
    const char *buf;        /* the bytes parsed (not owned) */
    size_t      len;

    bool        is_request;
    /* request line */
    sc_method_t method;
    sc_str_t    method_str;
    sc_str_t    ruri_str;
    sc_uri_t    ruri;
    /* status line */
    unsigned    status;
    sc_str_t    reason;
    sc_str_t    version;

    sc_hdr_t   *hdr_first, *hdr_last;
    unsigned    hdr_count;
    sc_hdr_t   *hdr[SC_HDR__COUNT];  /* first of each id */

    /* eagerly parsed (present when the pointer is set / has_* is true) */
    sc_via_t    *via;
    sc_addr_t   *from, *to;
    sc_str_t     call_id;
    bool         has_cseq;
    sc_cseq_t    cseq;
    int          max_forwards;       /* -1 when absent */
    sc_addr_t   *contact;            /* list over every Contact header */
    bool         contact_star;
    sc_addr_t   *route, *record_route;
    bool         has_content_length;
    size_t       content_length;
    bool         has_content_type;
    sc_ctype_t   content_type;
    bool         has_expires;
    uint32_t     expires;
    sc_token_list_t *require, *proxy_require, *supported;
    sc_digest_t *authorization, *proxy_authorization;

    sc_str_t     body;
} sc_msg_t;

/* Stream framing (RFC 3261 §18.3): given bytes received so far on a
 * connection, find where the first message ends.  Leading CRLFs are not
 * skipped here (keep-alives are the transport's business).
 *   > 0  the first message is that many bytes long
 *   0    need more bytes
 *   < 0  unrecoverable framing error (err says why); close the connection */
long sc_msg_frame(const char *buf, size_t len, const sc_parse_limits_t *lim,
                  sc_parse_err_t *err);

/* Parses one message.  buf is modified in place only to unfold folded
 * header lines (CRLF before whitespace becomes spaces), which keeps every
 * view contiguous.  Returns 0 on success.  On failure returns -1 with err
 * filled and *out still set when the start line and header section could
 * be read, so the caller can answer a request with err->status (the
 * headers that did parse are available); *out is NULL otherwise.
 * A message over lim->max_size fails with 513 but is still read, so that
 * the 513 can be addressed.
 * The caller frees *out with sc_msg_free() in both cases. */
int sc_msg_parse(sc_msg_t **out, char *buf, size_t len, sc_framing_t framing,
                 const sc_parse_limits_t *lim, sc_parse_err_t *err);

void sc_msg_free(sc_msg_t *msg);

/* --- building (msg_build.c) ---------------------------------------------- */

/* A new empty request or response with its own pool. */
sc_msg_t *sc_msg_new_request(sc_method_t method, sc_str_t method_str, sc_str_t ruri);
sc_msg_t *sc_msg_new_response(unsigned status, sc_str_t reason);

/* RFC 3261 §8.2.6: a response to req carrying its Via (all, in order),
 * From, To, Call-ID and CSeq; a To tag is added when to_tag is given, the
 * request's To has none and status > 100; 100 Trying copies Timestamp
 * (§8.2.6.1).  reason may be empty for the default phrase. */
sc_msg_t *sc_msg_new_response_to(const sc_msg_t *req, unsigned status, sc_str_t reason,
                                 sc_str_t to_tag);

/* Header editing.  Values are copied into the message's pool; the typed
 * view of a header the stack parses eagerly is refreshed.  Return 0, or -1
 * when out of memory or the new value does not parse (*bad says why). */
int  sc_msg_add_header(sc_msg_t *msg, sc_str_t name, sc_str_t value, const char **bad);
int  sc_msg_add_header_first(sc_msg_t *msg, sc_str_t name, sc_str_t value, const char **bad);
/* Removes every header with that name (any form); returns how many. */
int  sc_msg_remove_header(sc_msg_t *msg, sc_str_t name);
/* Replaces all headers of that name with one. */
int  sc_msg_replace_header(sc_msg_t *msg, sc_str_t name, sc_str_t value, const char **bad);
/* Rewrites the Contact in name-addr form ("<sip:u@h>;expires=60") when
 * an address in it is written as a bare addr-spec (hdr_contact.c).  0
 * when done or nothing to do, -1 when out of memory. */
int  sc_msg_contact_name_addr(sc_msg_t *msg);
/* Whether a Contact in that method's requests and answers is a
 * dialog's remote target (§12: dialog-creating and target-refresh). */
bool sc_method_dialog_contact(sc_method_t method);
/* Removes just this header. */
void sc_msg_unlink_header(sc_msg_t *msg, sc_hdr_t *h);
/* Takes the topmost Route value off (its row, when it held that one
 * alone); the typed view follows.  -1 when there is no Route. */
int  sc_msg_pop_route(sc_msg_t *msg);
int  sc_msg_set_body(sc_msg_t *msg, sc_str_t content_type, sc_str_t body);
int  sc_msg_set_ruri(sc_msg_t *msg, sc_str_t ruri, const char **bad);

/* First header with that name, or NULL. */
sc_hdr_t *sc_msg_find_header(const sc_msg_t *msg, sc_str_t name);

/* Serialises with a Content-Length that matches the body (any
 * Content-Length header present is rewritten).  Returns the length
 * written, or the length needed if it exceeds cap (nothing written). */
size_t sc_msg_print(const sc_msg_t *msg, char *out, size_t cap);
/* Same, into the message's pool. */
sc_str_t sc_msg_serialize(const sc_msg_t *msg);

const char *sc_reason_phrase(unsigned status);

/* RFC 3261 §18.2.1 and RFC 3581 §4 on a response built from a request
 * received from src_ip:src_port: the top Via gets received=src_ip (when
 * it differs from sent-by, or always when rport was asked for) and a bare
 * rport gets the source port.  Returns 0, or -1 when out of memory. */
int sc_msg_stamp_via(sc_msg_t *resp, const char *src_ip, uint16_t src_port);

/* --- derived requests (msg_derive.c) -------------------------------------- */

/* RFC 3261 §17.1.1.3: the ACK for a non-2xx final response resp to
 * invite, sent by the client transaction on the same hop. */
sc_msg_t *sc_msg_ack_for(const sc_msg_t *invite, const sc_msg_t *resp);
/* §9.1: the CANCEL for a request this element sent. */
sc_msg_t *sc_msg_cancel_for(const sc_msg_t *req);

/* --- identifiers (sip_ident.c) -------------------------------------------- */

#define SC_BRANCH_COOKIE "z9hG4bK"
/* Writes a fresh random tag (hex) into out[len]; out has room for len+1. */
void sc_gen_tag(char *out, size_t len);
/* A branch: the RFC 3261 magic cookie plus random hex, len total chars
 * (use len >= 16 for a usable branch); out has room for len+1. */
void sc_gen_branch(char *out, size_t len);
/* A branch that starts with the magic cookie and has something after it
 * (RFC 4475 §3.2.1: "z9hG4bK" alone is not an RFC 3261 branch). */
bool sc_branch_is_rfc3261(sc_str_t branch);

#endif
