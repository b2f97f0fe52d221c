/* test_drachtio_json.c — the JSON reader of the drachtio module's HTTP
 * routing (modules/drachtio/json.c): the answers a routing service gives,
 * and what a broken or hostile one may send (every error a sentence,
 * never a crash). */
#include "../../modules/drachtio/json.c"

#include "sc_test.h"

static dr_json_t *parse(const char *s, const char **why)
{
    *why = NULL;
    return dr_json_parse(s, strlen(s), why);
}

START_TEST(a_routing_answer_is_read_whole)
{
    const char *why;
    dr_json_t *j = parse(" {\"action\": \"proxy\", \"data\": {\"destination\": [\"sip:a@x\", \"sip:b@y\"],"
                         " \"recordRoute\": true, \"simultaneous\": false, \"n\": -12.5e1, \"z\": null}}\n", &why);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(dr_json_get(j, "action")->str, "proxy");
    const dr_json_t *d = dr_json_get(j, "data");
    ck_assert_int_eq(d->type, DJ_OBJ);
    const dr_json_t *dest = dr_json_get(d, "destination");
    ck_assert_int_eq(dest->type, DJ_ARR);
    ck_assert_str_eq(dest->child->str, "sip:a@x");
    ck_assert_str_eq(dest->child->next->str, "sip:b@y");
    ck_assert_ptr_null(dest->child->next->next);
    ck_assert(dr_json_get(d, "recordRoute")->b);
    ck_assert_int_eq(dr_json_get(d, "simultaneous")->type, DJ_BOOL);
    ck_assert(dr_json_get(d, "n")->num == -125.0);
    ck_assert_int_eq(dr_json_get(d, "z")->type, DJ_NULL);
    ck_assert_ptr_null(dr_json_get(d, "absent"));
    ck_assert_ptr_null(dr_json_get(dest, "destination"));     /* not an object */
    dr_json_free(j);
}
END_TEST

START_TEST(strings_are_unescaped)
{
    const char *why;
    dr_json_t *j = parse("[\"a\\\"b\\\\c\\/d\\n\", \"\\u00e9\\u20ac\", \"\\ud83d\"]", &why);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(j->child->str, "a\"b\\c/d\n");
    ck_assert_str_eq(j->child->next->str, "\xc3\xa9\xe2\x82\xac");
    ck_assert_str_eq(j->child->next->next->str, "?");        /* a lone surrogate */
    dr_json_free(j);
}
END_TEST

START_TEST(broken_documents_say_why)
{
    static const char *const bad[] = {
        "", "this is not json", "{\"action\": \"reject\"", "{\"a\" 1}", "{action: 1}", "[1, 2",
        "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"", "{\"a\": 1} trailing", "[1,]", "-", "1e",
        "\"a\nb\"", NULL,
    };
    for (int i = 0; bad[i]; i++) {
        const char *why;
        dr_json_t *j = parse(bad[i], &why);
        ck_assert_msg(j == NULL, "accepted: %s", bad[i]);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(nesting_is_bounded_and_nul_is_not_text)
{
    char deep[200];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    const char *why;
    ck_assert_ptr_null(parse(deep, &why));
    ck_assert_str_eq(why, "nested too deeply");
    /* a NUL inside the body is not the end of a number, nor skipped */
    ck_assert_ptr_null(dr_json_parse("[12\0 3]", 7, &why));
    ck_assert_ptr_null(dr_json_parse("{\"a\":\"x\0\"}", 10, &why));
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("drachtio_json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, a_routing_answer_is_read_whole);
    tcase_add_test(tc, strings_are_unescaped);
    tcase_add_test(tc, broken_documents_say_why);
    tcase_add_test(tc, nesting_is_bounded_and_nul_is_not_text);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(json_suite)
