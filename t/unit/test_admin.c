/* test_admin.c — management resources: which link a request reaches
 * (by resource, by link name, refused when ambiguous), link names in the
 * chain, and the flat JSON reader the core's resources use. */
#include <string.h>

#include "app.h"
#include "sc_json.h"
#include "sc_test.h"

static void handler(sc_instance_t *inst, sc_admin_call_t *call, void *arg)
{
    (void)inst;
    (void)call;
    (void)arg;
}

static int publish(sc_instance_t *in, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    (void)conf;
    (void)err;
    (void)errlen;
    return sc_admin_register(in, "things", handler, in);
}
static const sc_module_t thing = {SC_MODULE_HEADER, .name = "thing", .create = publish};

static sc_conf_node_t name_node(sc_conf_node_t *val, const char *name)
{
    *val = (sc_conf_node_t){.kind = SC_CONF_SCALAR,
                            .key = "name",
                            .value = (char *)name,
                            .file = "x",
                            .line = 3,
                            .col = 11};
    return (sc_conf_node_t){.kind = SC_CONF_MAP, .file = "x", .line = 2, .col = 5, .children = val};
}

START_TEST(one_link_is_found_by_its_resource)
{
    struct event_base *base = event_base_new();
    const sc_module_t *mods[] = {&thing};
    char err[256];
    sc_chain_t *c = sc_chain_build_static(mods, NULL, 1, base, 404, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    sc_instance_t *in = NULL;
    sc_admin_fn fn = NULL;
    void *arg = NULL;
    ck_assert_int_eq(sc_chain_admin_find(c, "things", NULL, &in, &fn, &arg, err, sizeof(err)), 0);
    ck_assert_ptr_eq(fn, handler);
    ck_assert_ptr_eq(arg, in);
    ck_assert_str_eq(sc_instance_name(in), "thing"); /* unnamed: the module's name */
    ck_assert_int_eq(sc_chain_admin_find(c, "other", NULL, &in, &fn, &arg, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "no resource \"other\" (GET /v1 lists them)");
    sc_chain_free(c);
    event_base_free(base);
}
END_TEST

START_TEST(two_links_are_told_apart_by_name)
{
    struct event_base *base = event_base_new();
    sc_conf_node_t v1, v2;
    sc_conf_node_t e1 = name_node(&v1, "east"), e2 = name_node(&v2, "west");
    const sc_module_t *mods[] = {&thing, &thing};
    const sc_conf_node_t *confs[] = {&e1, &e2};
    char err[256];
    sc_chain_t *c = sc_chain_build_static(mods, confs, 2, base, 404, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    sc_instance_t *in = NULL;
    sc_admin_fn fn;
    void *arg;
    ck_assert_int_eq(sc_chain_admin_find(c, "things", NULL, &in, &fn, &arg, err, sizeof(err)), 1);
    ck_assert_str_eq(err, "2 links have \"things\": name one with ?link= east, west");
    ck_assert_int_eq(sc_chain_admin_find(c, "things", "west", &in, &fn, &arg, err, sizeof(err)), 0);
    ck_assert_str_eq(sc_instance_name(in), "west");
    ck_assert_int_eq(sc_chain_admin_find(c, "things", "north", &in, &fn, &arg, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "no link named \"north\" has the resource \"things\"");
    sc_chain_free(c);
    event_base_free(base);
}
END_TEST

START_TEST(a_duplicate_link_name_is_a_config_error)
{
    struct event_base *base = event_base_new();
    sc_conf_node_t v1, v2;
    sc_conf_node_t e1 = name_node(&v1, "east"), e2 = name_node(&v2, "east");
    const sc_module_t *mods[] = {&thing, &thing};
    const sc_conf_node_t *confs[] = {&e1, &e2};
    char err[256];
    ck_assert_ptr_null(sc_chain_build_static(mods, confs, 2, base, 404, err, sizeof(err)));
    ck_assert_str_eq(err, "x:3:11: name \"east\" is taken by link 1 (named so)");
    event_base_free(base);
}
END_TEST

START_TEST(json_field_reads_a_flat_object)
{
    char out[16], err[200];
    const char *ok = " { \"a\" : 1, \"level\":\"debug\", \"b\": [ ] }";
    /* arrays are not flat: refused, naming the member */
    ck_assert_int_eq(sc_json_field(ok, strlen(ok), "level", out, sizeof(out), err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err,
                     "bad JSON: the value of \"b\" is not a string, number, true, false or null");
    const char *flat = "{\"a\": -1.5e3, \"t\": true, \"n\": null, \"level\": \"debug\"}\n";
    ck_assert_int_eq(sc_json_field(flat, strlen(flat), "level", out, sizeof(out), err, sizeof(err)),
                     0);
    ck_assert_str_eq(out, "debug");
    ck_assert_int_eq(sc_json_field(flat, strlen(flat), "x", out, sizeof(out), err, sizeof(err)), 1);
    ck_assert_str_eq(err, "the object has no \"x\"");
    ck_assert_int_eq(sc_json_field("{}", 2, "x", out, sizeof(out), err, sizeof(err)), 1);
}
END_TEST

START_TEST(json_field_names_the_defect)
{
    static const struct {
        const char *in, *err;
    } bad[] = {
        {"", "the body is not a JSON object"},
        {"[1]", "the body is not a JSON object"},
        {"{\"level\" \"x\"}", "bad JSON: ':' expected after \"level\""},
        {"{\"level\": debug}",
         "bad JSON: the value of \"level\" is not a string, number, true, false or null"},
        {"{\"level\": \"x\" \"y\": 1}", "bad JSON: ',' or '}' expected after \"level\""},
        {"{\"level\": \"x\"} extra", "bad JSON: text after the object"},
        {"{\"level\": 3}", "\"level\" must be a string"},
        {"{\"level\": \"abcdefghijklmnopqrstuvwxyz\"}", "\"level\" is too long or escaped"},
        {"{\"level\": \"unterminated}",
         "bad JSON: the value of \"level\" is not a string, number, true, false or null"},
        {"{level: 1}", "bad JSON: a member name expected at offset 1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[16], err[200];
        ck_assert_int_eq(sc_json_field(bad[i].in, strlen(bad[i].in), "level", out, sizeof(out), err,
                                       sizeof(err)),
                         -1);
        ck_assert_str_eq(err, bad[i].err);
    }
}
END_TEST

static Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, one_link_is_found_by_its_resource);
    tcase_add_test(tc, two_links_are_told_apart_by_name);
    tcase_add_test(tc, a_duplicate_link_name_is_a_config_error);
    tcase_add_test(tc, json_field_reads_a_flat_object);
    tcase_add_test(tc, json_field_names_the_defect);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(admin_suite)
