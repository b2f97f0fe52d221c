/* t_proxy — test module: proxies initial requests (no To tag) to the
 * configured targets, in-dialog ones by their Request-URI (loose
 * routing).  Keys: targets (list of URIs), parallel, record_route,
 * provisional_timeout, final_timeout, follow_redirects.  Each attempt's
 * result is logged as "attempt TARGET STATUS REASON". */
#include <stdlib.h>

#include <sipchain.h>

#include "t_cdr_log.h"

#define MAXT 8

typedef struct {
    const char     *targets[MAXT + 1];
    sc_proxy_opts_t o;
} state_t;

static int create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "targets", "parallel", "record_route",
                                        "provisional_timeout", "final_timeout",
                                        "follow_redirects", NULL };
    state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -1;
    sc_instance_set_data(inst, st);
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    int n = 0;
    for (const sc_conf_node_t *t = sc_conf_first(sc_conf_get(conf, "targets")); t && n < MAXT;
         t = sc_conf_next(t))
        if (sc_conf_string(t, &st->targets[n++], err, errlen))
            return -1;
    st->o.targets = st->targets;
    const sc_conf_node_t *k;
    unsigned long v;
    if ((k = sc_conf_get(conf, "parallel")) && sc_conf_bool(k, &st->o.parallel, err, errlen))
        return -1;
    if ((k = sc_conf_get(conf, "follow_redirects")) &&
        sc_conf_bool(k, &st->o.follow_redirects, err, errlen))
        return -1;
    if ((k = sc_conf_get(conf, "record_route")) && sc_conf_bool(k, &st->o.record_route, err, errlen))
        return -1;
    if ((k = sc_conf_get(conf, "provisional_timeout"))) {
        if (sc_conf_uint(k, 600, &v, err, errlen))
            return -1;
        st->o.provisional_timeout_s = (unsigned)v;
    }
    if ((k = sc_conf_get(conf, "final_timeout"))) {
        if (sc_conf_uint(k, 600, &v, err, errlen))
            return -1;
        st->o.final_timeout_s = (unsigned)v;
    }
    return 0;
}

static void on_attempt(const char *target, const sc_response_t *r, void *arg)
{
    sc_str_t why = sc_response_reason(r);
    sc_instance_log(arg, SC_LOG_LEVEL_INFO, "attempt %s %u %.*s", target, sc_response_status(r),
                    (int)why.len, why.s);
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    state_t *st = sc_instance_data(inst);
    sc_proxy_opts_t o = st->o;
    o.on_attempt = on_attempt;
    o.attempt_arg = inst;
    sc_str_t to = sc_req_header(req, "To");
    bool in_dialog = false;
    for (size_t i = 0; i + 4 < to.len; i++)
        if (to.s[i] == ';' && (to.s[i + 1] | 32) == 't' && (to.s[i + 2] | 32) == 'a' &&
            (to.s[i + 3] | 32) == 'g' && to.s[i + 4] == '=')
            in_dialog = true;
    if (in_dialog)
        o.targets = NULL;
    if (sc_proxy_request(req, &o) != 0)
        sc_res_send(res, 500, "cannot proxy");
}


static void destroy(sc_instance_t *inst)
{
    free(sc_instance_data(inst));
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_proxy", .version = "0", .create = create, .start = t_cdr_log_start,
    .handle = handle, .destroy = destroy,
};
