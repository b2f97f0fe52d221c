/* t_locate — test module: answers a MESSAGE with what the "location"
 * service knows of its Request-URI: 200 with one "X-Loc: uri|path|
 * received|q|instance|reg_id|expires_in" per contact (best first), or
 * 404 when there is none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sipchain.h>

static int start(sc_instance_t *inst)
{
    const sc_location_api_t *loc = sc_service_find(inst, SC_LOCATION_SERVICE);
    sc_instance_set_data(inst, (void *)loc);
    return loc ? 0 : -1;
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    const sc_location_api_t *loc = sc_instance_data(inst);
    sc_str_t u = sc_req_uri(req);
    char aor[512], line[2048];
    snprintf(aor, sizeof(aor), "%.*s", (int)u.len, u.s);
    sc_location_t l[8];
    int n = loc->lookup(loc, aor, l, 8);
    for (int i = 0; i < n && i < 8; i++) {
        snprintf(line, sizeof(line), "%s|%s|%s|%d|%s|%ld|%u", l[i].uri, l[i].path ? l[i].path : "-",
                 l[i].received ? l[i].received : "-", l[i].q, l[i].instance ? l[i].instance : "-",
                 l[i].reg_id, l[i].expires_in);
        sc_res_add_header(res, "X-Loc", line);
    }
    sc_res_send(res, n ? 200 : 404, n ? NULL : "Not Found (no binding)");
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_locate", .version = "0", .start = start, .handle = handle,
};
