/* sc_str.h — helpers over sc_str_t views.  All are length-bounded; none
 * relies on NUL termination, because message bytes may contain NUL. */
#ifndef SC_STR_H
#define SC_STR_H

#include <sipchain.h>
#include <string.h>

#define SC_STR_LIT(lit) ((sc_str_t){ (lit), sizeof(lit) - 1 })
#define SC_STR_NULL     ((sc_str_t){ NULL, 0 })
/* printf("%.*s", SC_STR_FMT(v)) */
#define SC_STR_FMT(v)   (int)(v).len, (v).s

static inline sc_str_t sc_str(const char *s, size_t len)
{
    return (sc_str_t){ s, len };
}

static inline sc_str_t sc_str_cstr(const char *s)
{
    return (sc_str_t){ s, s ? strlen(s) : 0 };
}

static inline unsigned char sc_lower(unsigned char c)
{
    /* branch-free: adds 0x20 exactly when c is in 'A'..'Z' */
    return (unsigned char)(c | (((unsigned)(c - 'A') < 26u) << 5));
}

static inline bool sc_str_eq(sc_str_t a, sc_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

static inline bool sc_mem_caseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sc_lower((unsigned char)a[i]) != sc_lower((unsigned char)b[i]))
            return false;
    return true;
}

static inline bool sc_str_caseeq(sc_str_t a, sc_str_t b)
{
    return a.len == b.len && sc_mem_caseeq(a.s, b.s, a.len);
}

/* Compare with a C string literal, ignoring ASCII case. */
static inline bool sc_str_caseeq_c(sc_str_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && sc_mem_caseeq(a.s, lit, n);
}

static inline bool sc_str_eq_c(sc_str_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.s, lit, n) == 0;
}

/* Strict unsigned decimal: only digits, at least one, no sign, no spaces.
 * Leading zeros are fine (RFC 4475 wsinv: "0068").  Returns false on
 * anything else or on a value above max. */
static inline bool sc_str_to_u64(sc_str_t v, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;
    if (v.len == 0)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned char)v.s[i] - '0';
        if (d > 9)
            return false;
        if (n > (max - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

#endif
