/* t_fail — test module: fails every request with 503 "backend down". */
#include <sipchain.h>

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    (void)inst;
    (void)res;
    sc_fail(req, 503, "backend down");
}

const sc_module_t sc_module = { SC_MODULE_HEADER, .name = "t_fail", .version = "0", .handle = handle };
