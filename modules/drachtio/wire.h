/*
 * wire.h — the drachtio control protocol's framing and tokens
 * (../shared/reference/drachtio-wire-protocol.md §1.1): a frame is
 * "<decimal byte count>#<payload>", the payload a leader line of
 * '|'-separated tokens, then optionally CRLF and a whole SIP message.
 * Unlike drachtio-server, a frame may be as long as the configured
 * max_frame (default 16 MiB), not 99 999 bytes.
 */
#ifndef DR_WIRE_H
#define DR_WIRE_H

#include <stddef.h>
#include <sipchain.h>

struct evbuffer;

#define DR_MAX_TOKENS 64

/* The next whole frame's payload in in: 1 (copied into a malloc'ed
 * *payload, NUL-terminated, removed from in), 0 when more bytes are
 * needed, -1 when the stream is not drachtio framing or the frame is
 * longer than max (why says which). */
int dr_frame_next(struct evbuffer *in, size_t max, char **payload, size_t *len, const char **why);

/* Splits the leader (up to the first CRLF, written over with NULs) into
 * tokens, empty ones kept; *sip is what follows the CRLF (empty when
 * none).  The count. */
int dr_tokens(char *payload, size_t len, char **tok, int max, sc_str_t *sip);

/* A fresh UUID v4 (36 characters and the NUL). */
void dr_uuid(char out[37]);
/* Now as drachtio writes times: "HH:MM:SS.uuuuuu", UTC. */
void dr_time(char out[16]);

/* Appends one frame of leader (after a fresh msgId and '|') and, when
 * sip is not empty, CRLF and sip.  msgid gets the id when not NULL. */
void dr_frame_add(struct evbuffer *out, const char *leader, sc_str_t sip, char msgid[37]);

#endif
