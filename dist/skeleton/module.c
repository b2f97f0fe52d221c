/*
 * @NAME@ — a sipchain module (made by "sipchain-module new @NAME@").
 *
 * What it does now, so that it builds, loads and passes its test before
 * you change anything: it answers requests of one method (MESSAGE by
 * default) with 200 and an X-Greeting header, and passes every other
 * request to the next module of the chain with sc_next.  Replace the
 * handler with your logic; the README's "Writing a module" and the
 * comments of <sipchain.h> describe every call.
 *
 * Config (each key checked in create; a wrong one is reported as
 * file:line:col before the server starts):
 *   - module: @NAME@
 *     method: MESSAGE              # default MESSAGE
 *     greeting: "hello"            # default "hello from @NAME@"
 */
#include <stdlib.h>
#include <string.h>

#include <sipchain.h>

typedef struct {                /* one per instance: a module may be listed twice */
    const char *method;
    const char *greeting;
} conf_t;

static int create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "method", "greeting", NULL };
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    conf_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    sc_instance_set_data(inst, c);      /* destroy frees it, even when create fails */
    c->method = "MESSAGE";
    c->greeting = "hello from @NAME@";
    const sc_conf_node_t *n;
    if ((n = sc_conf_get(conf, "method")) && sc_conf_string(n, &c->method, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "greeting")) && sc_conf_string(n, &c->greeting, err, errlen))
        return -1;
    return 0;
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    const conf_t *c = sc_instance_data(inst);
    sc_str_t m = sc_req_method(req);
    if (m.len != strlen(c->method) || memcmp(m.s, c->method, m.len) != 0) {
        sc_next(req);                   /* not ours: the next module decides */
        return;
    }
    sc_res_add_header(res, "X-Greeting", c->greeting);
    sc_res_send(res, 200, NULL);        /* answers and ends the request */
}

static void destroy(sc_instance_t *inst)
{
    free(sc_instance_data(inst));
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,                   /* the ABI this was built for: checked at load */
    .name = "@NAME@",
    .version = "0.1",
    .create = create,
    .handle = handle,
    .destroy = destroy,
};
