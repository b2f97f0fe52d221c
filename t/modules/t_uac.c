/* t_uac — test module: for a request carrying X-Target: URI, sends a
 * request of its own there (sc_request; method from X-Method, default
 * OPTIONS; X-Pad: N adds an N-octet body) and answers the original with
 * 200 "got STATUS REASON after N provisional" once the final response
 * is in.  Requests without X-Target pass on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sipchain.h>

typedef struct {
    sc_req_t *req;
    sc_res_t *res;
    int       provisional;
} pending_t;

static void on_response(const sc_response_t *r, void *arg)
{
    pending_t *p = arg;
    unsigned st = sc_response_status(r);
    if (st < 200) {
        p->provisional++;
        return;
    }
    char why[200];
    sc_str_t reason = sc_response_reason(r);
    snprintf(why, sizeof(why), "got %u %.*s after %d provisional", st, (int)reason.len, reason.s,
             p->provisional);
    sc_res_send(p->res, 200, why);
    free(p);
}

static char *cstr(sc_str_t v)
{
    char *s = malloc(v.len + 1);
    if (v.len)
        memcpy(s, v.s, v.len);
    s[v.len] = '\0';
    return s;
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    sc_str_t target = sc_req_header(req, "X-Target");
    if (target.len == 0) {
        sc_next(req);
        return;
    }
    sc_str_t method = sc_req_header(req, "X-Method"), pad = sc_req_header(req, "X-Pad");
    char *uri = cstr(target), *m = method.len ? cstr(method) : cstr((sc_str_t){ "OPTIONS", 7 }), *ps = cstr(pad);
    size_t n = (size_t)atol(ps);
    char *body = malloc(n + 1);
    memset(body, 'x', n);
    const char *hdrs[] = { "X-From-Module: t_uac", NULL };
    sc_request_opts_t o = { .method = m, .uri = uri, .headers = hdrs, .content_type = "text/plain",
                            .body = { body, n } };
    pending_t *p = calloc(1, sizeof(*p));
    p->req = req;
    p->res = res;
    if (sc_request(inst, &o, on_response, p) != 0) {
        free(p);
        sc_res_send(res, 500, "sc_request refused");
    }
    free(uri);
    free(m);
    free(ps);
    free(body);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_uac", .version = "0", .handle = handle,
};
