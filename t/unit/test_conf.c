/* test_conf.c — configuration validation: each class of error names
 * file:line:col and the key; ${VAR} reads the environment. */
#include <unistd.h>

#include "sc_test.h"
#include "server.h"

static char path[64];

static const char *conf_error(const char *yaml)
{
    static char err[1024];
    strcpy(path, "/tmp/sc_conf_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    sc_server_conf_t c;
    err[0] = '\0';
    int rc = sc_server_conf_read(path, &c, err, sizeof(err));
    if (rc == 0) {
        rc = sc_server_conf_check_chain(&c, err, sizeof(err));
        sc_server_conf_free(&c);
    }
    unlink(path);
    if (rc == 0)
        return NULL;
    /* drop the temporary path: "PATH:l:c: msg" -> ":l:c: msg" */
    return strncmp(err, path, strlen(path)) == 0 ? err + strlen(path) : err;
}

#define LISTEN "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n"

START_TEST(valid_config_loads)
{
    ck_assert_ptr_null(conf_error(LISTEN "  log: { level: debug }\n  limits: { max_headers: 50 }\nchain: []\n"));
}
END_TEST

START_TEST(unknown_keys_are_named_where_they_stand)
{
    ck_assert_str_eq(conf_error(LISTEN "  colour: red\n"), ":3:3: unknown key \"colour\"");
    ck_assert_str_eq(conf_error("servr: {}\n"), ":1:1: unknown key \"servr\"");
}
END_TEST

START_TEST(wrong_types_are_named)
{
    ck_assert_str_eq(conf_error("server:\n  listen: \"udp:127.0.0.1:5060\"\n"),
                     ":2:11: \"listen\" must be a list of addresses");
    ck_assert_str_eq(conf_error(LISTEN "  limits: { max_headers: lots }\n"),
                     ":3:26: \"max_headers\" must be a whole number");
    ck_assert_str_eq(conf_error(LISTEN "  log: [ info ]\n"), ":3:8: \"log\" must be a mapping");
}
END_TEST

START_TEST(bad_addresses_are_named)
{
    ck_assert_str_eq(conf_error("server:\n  listen: [ \"udp:300.1.1.1:5060\" ]\n"),
                     ":2:13: listen \"udp:300.1.1.1:5060\": host must be a numeric IPv4 or IPv6 address");
    ck_assert_str_eq(conf_error("server:\n  listen: [ \"udp:[::1:5060\" ]\n"),
                     ":2:13: listen \"udp:[::1:5060\": IPv6 address must be written [ADDR]:PORT");
}
END_TEST

/* server.dns: the cache keys read, checked and named */
START_TEST(dns_keys)
{
    sc_server_conf_t c;
    strcpy(path, "/tmp/sc_conf_XXXXXX");
    int fd = mkstemp(path);
    const char *y = LISTEN "  dns: { servers: [ \"10.0.0.53\", \"[::1]:5353\" ], timeout: 700, attempts: 3,\n"
                    "         cache_size: 100, negative_ttl: 5, max_ttl: 600 }\n";
    ck_assert_int_eq(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    close(fd);
    char err[256];
    ck_assert_int_eq(sc_server_conf_read(path, &c, err, sizeof(err)), 0);
    unlink(path);
    ck_assert_int_eq(c.dns.nservers, 2);
    ck_assert_uint_eq(c.dns.timeout_ms, 700);
    ck_assert_uint_eq(c.dns.attempts, 3);
    ck_assert_int_eq(c.dns.cache_size, 100);
    ck_assert_uint_eq(c.dns.negative_ttl, 5);
    ck_assert_uint_eq(c.dns.max_ttl, 600);
    sc_server_conf_free(&c);
    ck_assert_ptr_null(conf_error(LISTEN "  dns: { cache_size: 0 }\n"));
    ck_assert_str_eq(conf_error(LISTEN "  dns: { negative_ttl: 0 }\n"),
                     ":3:24: \"negative_ttl\" must be at least 1 s (cache_size: 0 turns the cache off)");
    ck_assert_str_eq(conf_error(LISTEN "  dns: { cache: yes }\n"), ":3:10: unknown key \"cache\"");
}
END_TEST

START_TEST(missing_file_and_syntax_errors)
{
    sc_server_conf_t c;
    char err[512];
    ck_assert_int_eq(sc_server_conf_read("/nonexistent/sipchain.yaml", &c, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "/nonexistent/sipchain.yaml: cannot open: No such file or directory");
    const char *e = conf_error("server: [\n");
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(strstr(e, ":2:1: did not find expected node content") != NULL, "%s", e);
}
END_TEST

START_TEST(unknown_modules_are_named)
{
    const char *e = conf_error(LISTEN "modules_path: /nonexistent\nchain:\n  - module: ghost\n");
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(strncmp(e, ":5:13: unknown module \"ghost\": cannot load /nonexistent/ghost.so", 63) == 0, "%s", e);
}
END_TEST

START_TEST(environment_variables_fill_values)
{
    setenv("SC_TEST_LISTEN", "udp:127.0.0.1:5099", 1);
    ck_assert_ptr_null(conf_error("server:\n  listen: [ \"${SC_TEST_LISTEN}\" ]\n"));
    unsetenv("SC_TEST_LISTEN");
    ck_assert_str_eq(conf_error("server:\n  listen: [ \"${SC_TEST_LISTEN}\" ]\n"),
                     ":2:13: environment variable ${SC_TEST_LISTEN} is not set");
}
END_TEST

START_TEST(duplicate_keys_in_a_big_map_are_found)
{
    /* a users file of 50 000 names with one repeated: found (sorted, not
     * pairwise) and named where the repeat stands */
    char tmp[] = "/tmp/sc_users_XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 1; i <= 50000; i++)
        fprintf(f, "u%d: { ha1: x }\n", i == 40001 ? 17 : i);
    fclose(f);
    char err[256];
    sc_conf_node_t *root = sc_conf_load(tmp, err, sizeof(err));
    ck_assert_ptr_null(root);
    ck_assert_msg(strstr(err, ":40001:1: duplicate key \"u17\"") != NULL, "%s", err);
    f = fopen(tmp, "w");
    for (int i = 1; i <= 50000; i++)
        fprintf(f, "u%d: { ha1: x }\n", i);
    fclose(f);
    root = sc_conf_load(tmp, err, sizeof(err));
    ck_assert_msg(root != NULL, "%s", err);
    sc_conf_free(root);
    unlink(tmp);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("conf");
    tcase_add_test(tc, valid_config_loads);
    tcase_add_test(tc, unknown_keys_are_named_where_they_stand);
    tcase_add_test(tc, wrong_types_are_named);
    tcase_add_test(tc, bad_addresses_are_named);
    tcase_add_test(tc, dns_keys);
    tcase_add_test(tc, missing_file_and_syntax_errors);
    tcase_add_test(tc, unknown_modules_are_named);
    tcase_add_test(tc, environment_variables_fill_values);
    tcase_add_test(tc, duplicate_keys_in_a_big_map_are_found);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(conf_suite)
