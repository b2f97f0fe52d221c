/* t_whoami — test module: answers 200 with "X-User: <sc_req_user>" ("-"
 * when nobody authenticated the request). */
#include <sipchain.h>

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    (void)inst;
    const char *u = sc_req_user(req);
    sc_res_add_header(res, "X-User", u ? u : "-");
    sc_res_send(res, 200, NULL);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_whoami", .version = "0", .handle = handle,
};
