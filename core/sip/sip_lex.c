/* sip_lex.c — the character table and shared scanners (see sip_lex.h). */
#include "sip_lex.h"

#define A  (SC_C_TOKEN | SC_C_UNRES | SC_C_HOST | SC_C_WORD | SC_C_SCHEME)
#define D  (A | SC_C_DIGIT)
#define H  (A | SC_C_HEX)
#define DH (D | SC_C_HEX)

const uint16_t sc_char_class[256] = {
    [' ']  = SC_C_WS,
    ['\t'] = SC_C_WS,
    ['0'] = DH, ['1'] = DH, ['2'] = DH, ['3'] = DH, ['4'] = DH,
    ['5'] = DH, ['6'] = DH, ['7'] = DH, ['8'] = DH, ['9'] = DH,
    ['a'] = H, ['b'] = H, ['c'] = H, ['d'] = H, ['e'] = H, ['f'] = H,
    ['A'] = H, ['B'] = H, ['C'] = H, ['D'] = H, ['E'] = H, ['F'] = H,
    ['g'] = A, ['h'] = A, ['i'] = A, ['j'] = A, ['k'] = A, ['l'] = A,
    ['m'] = A, ['n'] = A, ['o'] = A, ['p'] = A, ['q'] = A, ['r'] = A,
    ['s'] = A, ['t'] = A, ['u'] = A, ['v'] = A, ['w'] = A, ['x'] = A,
    ['y'] = A, ['z'] = A,
    ['G'] = A, ['H'] = A, ['I'] = A, ['J'] = A, ['K'] = A, ['L'] = A,
    ['M'] = A, ['N'] = A, ['O'] = A, ['P'] = A, ['Q'] = A, ['R'] = A,
    ['S'] = A, ['T'] = A, ['U'] = A, ['V'] = A, ['W'] = A, ['X'] = A,
    ['Y'] = A, ['Z'] = A,
    ['-']  = SC_C_TOKEN | SC_C_UNRES | SC_C_HOST | SC_C_WORD | SC_C_SCHEME,
    ['.']  = SC_C_TOKEN | SC_C_UNRES | SC_C_HOST | SC_C_WORD | SC_C_SCHEME,
    ['_']  = SC_C_TOKEN | SC_C_UNRES | SC_C_HOST | SC_C_WORD,
    ['!']  = SC_C_TOKEN | SC_C_UNRES | SC_C_WORD,
    ['~']  = SC_C_TOKEN | SC_C_UNRES | SC_C_WORD,
    ['*']  = SC_C_TOKEN | SC_C_UNRES | SC_C_WORD,
    ['\''] = SC_C_TOKEN | SC_C_UNRES | SC_C_WORD,
    ['%']  = SC_C_TOKEN | SC_C_WORD,
    ['`']  = SC_C_TOKEN | SC_C_WORD,
    ['+']  = SC_C_TOKEN | SC_C_WORD | SC_C_USER | SC_C_PASS | SC_C_PARAM |
             SC_C_HNV | SC_C_SCHEME,
    ['(']  = SC_C_UNRES | SC_C_WORD,
    [')']  = SC_C_UNRES | SC_C_WORD,
    ['&']  = SC_C_USER | SC_C_PASS | SC_C_PARAM,
    ['=']  = SC_C_USER | SC_C_PASS,
    ['$']  = SC_C_USER | SC_C_PASS | SC_C_PARAM | SC_C_HNV,
    [',']  = SC_C_USER | SC_C_PASS,
    [';']  = SC_C_USER,
    ['?']  = SC_C_USER | SC_C_HNV | SC_C_WORD,
    ['/']  = SC_C_USER | SC_C_PARAM | SC_C_HNV | SC_C_WORD,
    ['[']  = SC_C_PARAM | SC_C_HNV | SC_C_WORD,
    [']']  = SC_C_PARAM | SC_C_HNV | SC_C_WORD,
    [':']  = SC_C_PARAM | SC_C_HNV | SC_C_WORD,
    ['<']  = SC_C_WORD,
    ['>']  = SC_C_WORD,
    ['"']  = SC_C_WORD,
    ['\\'] = SC_C_WORD,
    ['{']  = SC_C_WORD,
    ['}']  = SC_C_WORD,
};

size_t sc_quoted_len(sc_str_t v)
{
    /* Jump from quote to quote; a quote ends the string when an even
     * number of backslashes precedes it (each pair is one quoted-pair). */
    size_t i = 1;
    while (i < v.len) {
        const char *q = memchr(v.s + i, '"', v.len - i);
        if (q == NULL)
            return 0;
        size_t at = (size_t)(q - v.s), bs = 0;
        while (at - bs > 1 && v.s[at - bs - 1] == '\\')
            bs++;
        if ((bs & 1) == 0)
            return at + 1;
        i = at + 1;
    }
    return 0;
}

bool sc_list_next(sc_str_t *rest, sc_str_t *elem, const char **bad)
{
    if (rest->s == NULL)
        return false;
    const char *s = rest->s;
    size_t n = rest->len, i = 0;
    /* Fast path: no quote or bracket before the next comma (the usual
     * case) needs only memchr, which scans a word at a time. */
    const char *comma = memchr(s, ',', n);
    size_t seg = comma ? (size_t)(comma - s) : n;
    if (memchr(s, '"', seg) == NULL && memchr(s, '<', seg) == NULL) {
        i = seg;
        goto split;
    }
    static const uint8_t special[256] = { [','] = 1, ['"'] = 1, ['<'] = 1, ['>'] = 1 };
    while (i < n) {
        while (i < n && !special[(unsigned char)s[i]])
            i++;
        if (i == n)
            break;
        char c = s[i];
        if (c == '"') {
            size_t q = sc_quoted_len(sc_str(s + i, n - i));
            if (q == 0) {
                *bad = "unterminated quoted string";
                return false;
            }
            i += q;
            continue;
        }
        if (c == '<') {
            /* a URI holds no '<' or '>' (RFC 3261 §25.1): jump to the
             * close instead of walking the URI octet by octet */
            const char *gt = memchr(s + i + 1, '>', n - i - 1);
            if (gt == NULL) {
                *bad = "'<' without matching '>'";
                return false;
            }
            i = (size_t)(gt - s) + 1;
            continue;
        }
        if (c == ',')
            break;
        i++;                    /* a stray '>' is the element's business */
    }
split:
    *elem = sc_trim(sc_str(s, i));
    if (i < n) {
        rest->s = s + i + 1;
        rest->len = n - i - 1;
    } else {
        rest->s = NULL;
        rest->len = 0;
    }
    return true;
}

int sc_param_next(sc_str_t *p, sc_str_t *name, sc_str_t *value, const char **bad)
{
    sc_str_t v = sc_skip_ws(*p);
    if (v.len == 0) {
        *p = v;
        return 0;
    }
    if (v.s[0] != ';') {
        *bad = "expected ';' before parameter";
        return -1;
    }
    v = sc_skip_ws(sc_str(v.s + 1, v.len - 1));
    size_t n = sc_span(v, SC_C_TOKEN);
    if (n == 0) {
        *bad = "empty parameter";
        return -1;
    }
    *name = sc_str(v.s, n);
    v = sc_skip_ws(sc_str(v.s + n, v.len - n));
    *value = SC_STR_NULL;
    if (v.len && v.s[0] == '=') {
        v = sc_skip_ws(sc_str(v.s + 1, v.len - 1));
        if (v.len && v.s[0] == '"') {
            n = sc_quoted_len(v);
            if (n == 0) {
                *bad = "unterminated quoted parameter value";
                return -1;
            }
        } else {
            /* octets that end an unquoted value: ; " SP HTAB */
            static const uint8_t stop[256] = { [';'] = 1, ['"'] = 1, [' '] = 1, ['\t'] = 1 };
            const unsigned char *u = (const unsigned char *)v.s;
            n = 0;
            while (n + 4 <= v.len && !(stop[u[n]] | stop[u[n + 1]] | stop[u[n + 2]] | stop[u[n + 3]]))
                n += 4;
            while (n < v.len && !stop[u[n]])
                n++;
        }
        if (n == 0) {
            *bad = "parameter has '=' but no value";
            return -1;
        }
        *value = sc_str(v.s, n);
        v = sc_str(v.s + n, v.len - n);
    }
    *p = v;
    return 1;
}

bool sc_param_find(sc_str_t params, const char *pname, sc_str_t *value)
{
    sc_str_t name, val;
    const char *bad;
    while (sc_param_next(&params, &name, &val, &bad) == 1) {
        if (sc_str_caseeq_c(name, pname)) {
            if (value)
                *value = val;
            return true;
        }
    }
    return false;
}

sc_str_t sc_unquote(sc_str_t v)
{
    if (v.len >= 2 && v.s[0] == '"' && v.s[v.len - 1] == '"')
        return sc_str(v.s + 1, v.len - 2);
    return v;
}
