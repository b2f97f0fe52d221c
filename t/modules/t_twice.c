/* t_twice — test module: answers 200 and then, wrongly, 486 and sc_next;
 * the core must send only the first and log the rest. */
#include <sipchain.h>

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    (void)inst;
    sc_res_send(res, 200, "First");
    sc_res_send(res, 486, "Second");
    sc_next(req);
}

const sc_module_t sc_module = { SC_MODULE_HEADER, .name = "t_twice", .version = "0", .handle = handle };
