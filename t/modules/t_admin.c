/* t_admin — test module: a management resource of a user module's own,
 * "echo", answering with what the handler was given (method, item, the
 * query parameter "p", the body); item "silent" answers nothing (the
 * core's 500), "twice" answers 500 then 200 (the last answer counts),
 * "fail" fails with 418.  A second registration of "echo" is refused. */
#include <string.h>

#include <sipchain.h>

static void echo(sc_instance_t *inst, sc_admin_call_t *call, void *arg)
{
    const char *item = sc_admin_item(call), *p = sc_admin_param(call, "p");
    (void)inst;
    (void)arg;
    if (strcmp(item, "silent") == 0)
        return;
    if (strcmp(item, "fail") == 0) {
        sc_admin_fail(call, 418, "teapot \"%s\"", item);
        return;
    }
    if (strcmp(item, "twice") == 0) {
        sc_admin_reply(call, 500);
        sc_admin_printf(call, "{\"first\":true}");
    }
    sc_admin_reply(call, 200);
    sc_admin_printf(call, "{\"method\":\"%s\",\"item\":", sc_admin_method(call));
    sc_admin_json_str(call, (sc_str_t){item, strlen(item)});
    sc_admin_printf(call, ",\"p\":");
    if (p)
        sc_admin_json_str(call, (sc_str_t){p, strlen(p)});
    else
        sc_admin_printf(call, "null");
    sc_admin_printf(call, ",\"body\":");
    sc_admin_json_str(call, sc_admin_body(call));
    sc_admin_printf(call, "}\n");
}

static int create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    (void)conf;
    (void)err;
    (void)errlen;
    if (sc_admin_register(inst, "echo", echo, NULL) != 0)
        return -1;
    /* refused: twice, and a bad name */
    if (sc_admin_register(inst, "echo", echo, NULL) == 0 ||
        sc_admin_register(inst, "Bad/Name", echo, NULL) == 0)
        return -1;
    return 0;
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    (void)inst;
    (void)res;
    sc_next(req);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_admin", .version = "0", .create = create, .handle = handle,
};
