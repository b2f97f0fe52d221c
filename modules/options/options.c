/*
 * options — the smallest complete sipchain module, written to be read
 * before writing your own.
 *
 * It answers OPTIONS addressed to this server (RFC 3261 §11.2) with 200,
 * Allow, Accept and Supported, and passes every other request on with
 * sc_next.  "Addressed to this server" means a Request-URI without a user
 * part (sip:host, the usual keep-alive / capability probe), or one whose
 * host is listed under domains:.
 *
 * Config:
 *   - module: options
 *     allow: "INVITE, ACK, CANCEL, BYE, OPTIONS"   # default "OPTIONS"
 *     supported: "path, outbound"                  # default: none
 *     domains: [ example.com ]                     # default: none
 */
#include <stdlib.h>
#include <string.h>

#include <sipchain.h>

#define MAX_DOMAINS 32

/* One per instance: the same module may sit in the chain twice. */
typedef struct {
    const char *allow;
    const char *supported;
    int         ndomains;
    const char *domains[MAX_DOMAINS];
} options_conf_t;

static int options_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err,
                          size_t errlen)
{
    static const char *const keys[] = { "allow", "supported", "domains", NULL };
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    options_conf_t *oc = calloc(1, sizeof(*oc));
    if (oc == NULL)
        return -1;
    oc->allow = "OPTIONS";
    sc_instance_set_data(inst, oc);   /* destroy frees it, even on error */
    const sc_conf_node_t *n;
    if ((n = sc_conf_get(conf, "allow")) && sc_conf_string(n, &oc->allow, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "supported")) && sc_conf_string(n, &oc->supported, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "domains"))) {
        for (const sc_conf_node_t *d = sc_conf_first(n); d; d = sc_conf_next(d)) {
            if (oc->ndomains == MAX_DOMAINS)
                return sc_conf_error(err, errlen, d, "at most %d domains", MAX_DOMAINS);
            if (sc_conf_string(d, &oc->domains[oc->ndomains++], err, errlen))
                return -1;
        }
        if (oc->ndomains == 0)
            return sc_conf_error(err, errlen, n, "\"domains\" must be a non-empty list");
    }
    return 0;
}

static int for_us(const options_conf_t *oc, const sc_req_t *req)
{
    sc_str_t user, host;
    if (sc_uri_user_host(sc_req_uri(req), &user, &host) != 0)
        return 0;
    if (user.len == 0)
        return 1;                       /* sip:host: the server itself */
    for (int i = 0; i < oc->ndomains; i++)
        if (sc_uri_matches(sc_req_uri(req), oc->domains[i], NULL))
            return 1;
    return 0;
}

static void options_handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    const options_conf_t *oc = sc_instance_data(inst);
    sc_str_t m = sc_req_method(req);
    if (m.len != 7 || memcmp(m.s, "OPTIONS", 7) != 0 || !for_us(oc, req)) {
        sc_next(req);                   /* not ours: the next link decides */
        return;
    }
    sc_res_add_header(res, "Allow", oc->allow);
    sc_res_add_header(res, "Accept", "application/sdp");
    if (oc->supported)
        sc_res_add_header(res, "Supported", oc->supported);
    sc_res_send(res, 200, NULL);        /* ends the request */
}

static void options_destroy(sc_instance_t *inst)
{
    free(sc_instance_data(inst));
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "options",
    .version = "1.0",
    .create = options_create,
    .handle = options_handle,
    .destroy = options_destroy,
};
