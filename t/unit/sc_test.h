/* sc_test.h — shared helpers for the Check suites.  Suites run from the
 * top of the tree so that t/data/ paths resolve. */
#ifndef SC_TEST_H
#define SC_TEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "sip_msg.h"

typedef struct {
    char           *buf;
    size_t          len;
    sc_msg_t       *msg;
    sc_parse_err_t  err;
    int             rc;
} parsed_t;

static inline char *sc_test_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert(buf != NULL);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Parses a copy of bytes (the parser unfolds in place). */
static inline parsed_t sc_test_parse_mem(const char *bytes, size_t len, sc_framing_t fr)
{
    parsed_t p = { 0 };
    p.buf = malloc(len ? len : 1);
    memcpy(p.buf, bytes, len);
    p.len = len;
    p.rc = sc_msg_parse(&p.msg, p.buf, len, fr, NULL, &p.err);
    return p;
}

static inline parsed_t sc_test_parse_file(const char *path)
{
    size_t len;
    char *raw = sc_test_read(path, &len);
    parsed_t p = sc_test_parse_mem(raw, len, SC_TRANSPORT_DGRAM);
    free(raw);
    return p;
}

#define sc_test_parse_str(s) sc_test_parse_mem((s), strlen(s), SC_TRANSPORT_DGRAM)

static inline void sc_test_free(parsed_t *p)
{
    sc_msg_free(p->msg);
    free(p->buf);
    p->msg = NULL;
    p->buf = NULL;
}

/* A view equals a C string (byte-exact). */
#define ck_assert_view(v, lit)                                                    \
    do {                                                                          \
        sc_str_t v_ = (v);                                                        \
        ck_assert_msg(sc_str_eq(v_, sc_str((lit), sizeof(lit) - 1)),              \
                      "%s is \"%.*s\", expected \"%s\"", #v, (int)v_.len,        \
                      v_.s ? v_.s : "", (lit));                                   \
    } while (0)

#define ck_assert_parse_ok(p)                                                     \
    ck_assert_msg((p).rc == 0, "parse failed: %u %s", (p).err.status, (p).err.reason)

#define ck_assert_parse_err(p, st, substr)                                        \
    do {                                                                          \
        ck_assert_msg((p).rc != 0, "parse unexpectedly succeeded");              \
        ck_assert_uint_eq((p).err.status, (st));                                  \
        ck_assert_msg(strstr((p).err.reason, (substr)) != NULL,                  \
                      "reason \"%s\" lacks \"%s\"", (p).err.reason, (substr));    \
    } while (0)

#define SC_TEST_MAIN(suite_fn)                                                    \
    int main(void)                                                                \
    {                                                                             \
        SRunner *sr = srunner_create(suite_fn());                                 \
        srunner_run_all(sr, CK_NORMAL);                                           \
        int failed = srunner_ntests_failed(sr);                                   \
        srunner_free(sr);                                                         \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                              \
    }

static inline unsigned sc_test_count_via(const sc_msg_t *m)
{
    unsigned n = 0;
    for (const sc_via_t *v = m->via; v; v = v->next)
        n++;
    return n;
}

static inline unsigned sc_test_count_addr(const sc_addr_t *a)
{
    unsigned n = 0;
    for (; a; a = a->next)
        n++;
    return n;
}

#endif
