/*
 * sip_lex.h — character classes of the RFC 3261 §25 grammar, as one table
 * lookup each, and the small scanners every header parser shares.
 */
#ifndef SIP_LEX_H
#define SIP_LEX_H

#include "sc_str.h"

enum {
    SC_C_TOKEN    = 1 << 0,  /* token: alphanum -.!%*_+`'~            */
    SC_C_WS       = 1 << 1,  /* SP HTAB                               */
    SC_C_DIGIT    = 1 << 2,
    SC_C_HEX      = 1 << 3,
    SC_C_UNRES    = 1 << 4,  /* unreserved: alphanum mark -_.!~*'()   */
    SC_C_USER     = 1 << 5,  /* user-unreserved: &=+$,;?/             */
    SC_C_PASS     = 1 << 6,  /* password extra: &=+$,                 */
    SC_C_PARAM    = 1 << 7,  /* param-unreserved: []/:&+$             */
    SC_C_HNV      = 1 << 8,  /* hnv-unreserved: []/?:+$               */
    SC_C_HOST     = 1 << 9,  /* hostname chars: alphanum - . _        */
    SC_C_WORD     = 1 << 10, /* word: token plus ()<>:\"/[]?{}        */
    SC_C_SCHEME   = 1 << 11, /* scheme after 1st char: alnum + - .   */
};

extern const uint16_t sc_char_class[256];

static inline bool sc_is(unsigned char c, unsigned cls)
{
    return (sc_char_class[c] & cls) != 0;
}

static inline int sc_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = sc_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Trim SP/HTAB on both ends.  Folded lines were unfolded to spaces by the
 * message parser, so LWS inside a header value is only ever SP/HTAB. */
static inline bool sc_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static inline sc_str_t sc_trim(sc_str_t v)
{
    while (v.len && sc_is_ws(v.s[0])) { v.s++; v.len--; }
    while (v.len && sc_is_ws(v.s[v.len - 1])) v.len--;
    return v;
}

/* Length of the run of characters of class cls at the start of v. */
static inline size_t sc_span(sc_str_t v, unsigned cls)
{
    const unsigned char *s = (const unsigned char *)v.s;
    size_t i = 0;
    /* four octets a step: the hot loop of the parser (names, hosts) */
    while (i + 4 <= v.len && (sc_char_class[s[i]] & sc_char_class[s[i + 1]] &
                              sc_char_class[s[i + 2]] & sc_char_class[s[i + 3]] & cls))
        i += 4;
    while (i < v.len && sc_is(s[i], cls))
        i++;
    return i;
}

/* A token equals a lower-case literal, ignoring case.  OR-ing 0x20 folds
 * every letter and leaves every other token octet unchanged or non-letter,
 * so one operation per octet is exact for tokens (RFC 3261 §25.1). */
static inline bool sc_token_eq_lc(sc_str_t v, const char *lit, size_t n)
{
    if (v.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)v.s[i] | 0x20) != (unsigned char)lit[i])
            return false;
    return true;
}
#define SC_TOKEN_IS(v, lit) sc_token_eq_lc((v), (lit), sizeof(lit) - 1)

/* Runs of LWS are zero or one octet almost always: a plain loop beats
 * the unrolled span here (measured with callgrind). */
static inline sc_str_t sc_skip_ws(sc_str_t v)
{
    while (v.len && sc_is_ws(v.s[0])) { v.s++; v.len--; }
    return v;
}

static inline bool sc_is_token(sc_str_t v)
{
    return v.len > 0 && sc_span(v, SC_C_TOKEN) == v.len;
}

/* Given v starting at a '"', the length of the quoted-string including both
 * quotes (quoted-pair "\x" skips any octet but CR/LF), or 0 if the closing
 * quote is missing. */
size_t sc_quoted_len(sc_str_t v);

/* Split the next element off a comma-separated header value, honouring
 * quoted strings and <...>.  *rest advances past the comma.  The element is
 * trimmed and may be empty ("a,,b").  Returns false when *rest is exhausted
 * (an empty value yields no elements at all).  Sets *bad to a reason when a
 * quote or bracket never closes. */
bool sc_list_next(sc_str_t *rest, sc_str_t *elem, const char **bad);

/* Iterate ";name[=value]" parameters.  p points at the text after the
 * element's main part.  Returns 1 with name/value set, 0 at the end, -1 on
 * a malformed parameter (reason in *bad).  value.s is NULL when the
 * parameter has no '='; a quoted value keeps its quotes. */
int sc_param_next(sc_str_t *p, sc_str_t *name, sc_str_t *value, const char **bad);

/* Find a parameter by name (case-insensitive) in a params view produced by
 * a parser (the text after the first ';').  Returns true if present. */
bool sc_param_find(sc_str_t params, const char *name, sc_str_t *value);

/* A quoted value without its quotes (escapes left in place). */
sc_str_t sc_unquote(sc_str_t v);

#endif
