/* t_mark — test module: adds "X-Mark: <mark>" to the eventual answer and
 * passes the request on.  Shows order and the methods filter. */
#include <sipchain.h>

static int create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "mark", NULL };
    const char *mark = "?";
    const sc_conf_node_t *n = sc_conf_get(conf, "mark");
    if (sc_conf_check_keys(conf, keys, err, errlen) || (n && sc_conf_string(n, &mark, err, errlen)))
        return -1;
    sc_instance_set_data(inst, (void *)mark);   /* owned by the config tree */
    return 0;
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    sc_res_add_header(res, "X-Mark", sc_instance_data(inst));
    sc_next(req);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_mark", .version = "0", .create = create, .handle = handle,
};
