/* t_catch — test module: error middleware answering "caught: <reason>"
 * with the failure's status; ordinary requests pass through. */
#include <stdio.h>

#include <sipchain.h>

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    (void)inst;
    (void)res;
    sc_next(req);
}

static void handle_error(sc_instance_t *inst, const sc_error_t *err, sc_req_t *req, sc_res_t *res)
{
    (void)inst;
    (void)req;
    char why[128];
    snprintf(why, sizeof(why), "caught: %s", err->reason);
    sc_res_send(res, err->status, why);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_catch", .version = "0", .handle = handle, .handle_error = handle_error,
};
