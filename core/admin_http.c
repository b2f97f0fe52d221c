/* admin_http.c — see admin_http.h. */
#include "admin_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "app.h"
#include "sc_json.h"
#include "sc_log.h"
#include "sc_metrics.h"

#define MAX_BODY         65536
#define MAX_TXNS_DEFAULT 1000

struct sc_admin_http {
    struct evhttp *http;
    sc_admin_hooks_t hooks;
    char *token;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static const char *const LOG_LEVELS[] = {"error", "warn", "info", "debug"};

/* --- the core's own resources ------------------------------------------ */

static bool method_is(sc_admin_call_t *c, const char *allowed)
{
    /* allowed: "GET" or "GET PUT": a method outside it gets 405 */
    size_t n = strlen(c->method);
    for (const char *p = allowed; (p = strstr(p, c->method)) != NULL; p += n)
        if ((p == allowed || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    sc_admin_fail(c, 405, "%s is not allowed here: %s", c->method, allowed);
    return false;
}

struct txn_walk {
    sc_admin_call_t *c;
    unsigned n;
};

static void txn_one(const sc_txn_t *t, void *arg)
{
    static const char *const KIND[] = {"ist", "nist", "ict", "nict"};
    struct txn_walk *w = arg;
    sc_admin_call_t *c = w->c;
    const sc_msg_t *m = sc_txn_request(t);
    const sc_source_t *fl = sc_txn_flow(t);
    unsigned k = (unsigned)sc_txn_kind(t);
    sc_admin_printf(c, "%s{\"kind\":\"%s\",\"state\":\"%s\",\"method\":", w->n++ ? "," : "",
                    k < 4 ? KIND[k] : "?", sc_txn_state_name(sc_txn_state(t)));
    sc_admin_json_str(c, m ? m->cseq.method_str : (sc_str_t){"", 0});
    sc_admin_printf(c, ",\"call_id\":");
    sc_admin_json_str(c, m ? m->call_id : (sc_str_t){"", 0});
    sc_admin_printf(c, ",\"cseq\":%u,\"status\":%u,\"peer\":\"%s:%u\"}", m ? m->cseq.num : 0,
                    sc_txn_status(t), fl->peer.ip, fl->peer.port);
}

static void core_transactions(sc_admin_http_t *h, sc_admin_call_t *c)
{
    if (!method_is(c, "GET"))
        return;
    const char *mx = sc_admin_param(c, "max");
    char *end = NULL;
    unsigned long max = mx ? strtoul(mx, &end, 10) : MAX_TXNS_DEFAULT;
    if (mx && (*mx == '\0' || *end != '\0' || max > 1000000)) {
        sc_admin_fail(c, 400, "max must be a number 0-1000000, not \"%s\"", mx);
        return;
    }
    sc_admin_reply(c, 200);
    sc_admin_printf(c, "{\"count\":%u,\"unanswered\":%u,\"compact\":%u,\"transactions\":[",
                    sc_txn_count(h->hooks.txns), sc_txn_busy(h->hooks.txns),
                    sc_txn_count_compact(h->hooks.txns));
    struct txn_walk w = {c, 0};
    sc_txn_walk(h->hooks.txns, (unsigned)max, txn_one, &w);
    sc_admin_printf(c, "]}\n");
}

#define MAX_CHAINS 16

static void core_dialogs(sc_admin_http_t *h, sc_admin_call_t *c)
{
    if (!method_is(c, c->item[0] ? "DELETE" : "GET"))
        return;
    sc_chain_t *chains[MAX_CHAINS];
    int n = h->hooks.chains(h->hooks.arg, chains, MAX_CHAINS);
    if (c->item[0]) {
        for (int i = 0; i < n; i++)
            if (sc_chain_admin_end_dialog(chains[i], c->item)) {
                sc_log(SC_LOG_INFO, "dialog %s ended through the management API", c->item);
                sc_admin_reply(c, 200);
                sc_admin_printf(c, "{\"ended\":");
                sc_admin_json_str(c, (sc_str_t){c->item, strlen(c->item)});
                sc_admin_printf(c, "}\n");
                return;
            }
        sc_admin_fail(c, 404, "no dialog \"%s\" (GET /v1/dialogs lists them)", c->item);
        return;
    }
    unsigned count = 0;
    sc_admin_reply(c, 200);
    sc_admin_printf(c, "{\"dialogs\":[");
    for (int i = 0; i < n; i++)
        sc_chain_admin_dialogs(chains[i], c->out, &count);
    sc_admin_printf(c, "]}\n");
}

static void core_counters(sc_admin_http_t *h, sc_admin_call_t *c)
{
    if (!method_is(c, "GET"))
        return;
    sc_server_state_t st = {0};
    h->hooks.state(h->hooks.arg, &st);
    sc_admin_reply(c, 200);
    sc_admin_printf(c,
                    "{\"transactions\":%u,\"unanswered\":%u,\"dialogs\":%u,\"uptime_s\":%ld,"
                    "\"reloads\":%u,\"reload_failures\":%u,\"metrics\":",
                    st.transactions, st.transactions_busy, st.dialogs,
                    (long)(time(NULL) - st.started), st.reloads, st.reload_failures);
    sc_metrics_render_json(c->out);
    sc_admin_printf(c, "}\n");
}

static void core_reload(sc_admin_http_t *h, sc_admin_call_t *c)
{
    if (!method_is(c, "POST"))
        return;
    char err[1024];
    sc_log(SC_LOG_INFO, "reload asked for through the management API");
    if (h->hooks.reload(h->hooks.arg, err, sizeof(err)) != 0) {
        sc_admin_fail(c, 409, "reload failed, the running configuration stays: %s", err);
        return;
    }
    sc_server_state_t st = {0};
    h->hooks.state(h->hooks.arg, &st);
    sc_admin_reply(c, 200);
    sc_admin_printf(c, "{\"reloaded\":true,\"reloads\":%u}\n", st.reloads);
}

static void core_log_level(sc_admin_http_t *h, sc_admin_call_t *c)
{
    (void)h;
    if (!method_is(c, "GET PUT"))
        return;
    if (strcmp(c->method, "PUT") == 0) {
        char want[16], why[256];
        int rc = sc_json_field(c->body.s ? c->body.s : "", c->body.len, "level", want, sizeof(want),
                               why, sizeof(why));
        if (rc != 0) {
            sc_admin_fail(c, 400, "%s (send {\"level\": \"error|warn|info|debug\"})", why);
            return;
        }
        int lvl = sc_log_level_parse(want);
        if (lvl < 0) {
            sc_admin_fail(c, 400, "unknown log level \"%s\": error, warn, info or debug", want);
            return;
        }
        /* logged at the level of either side, so that it shows */
        sc_log_level_t was = sc_log_level;
        sc_log_level = lvl > (int)was ? (sc_log_level_t)lvl : was;
        sc_log(SC_LOG_INFO,
               "log level %s -> %s (management API; a reload restores the configured one)",
               LOG_LEVELS[was], LOG_LEVELS[lvl]);
        sc_log_level = (sc_log_level_t)lvl;
    }
    sc_admin_reply(c, 200);
    sc_admin_printf(c, "{\"level\":\"%s\"}\n", LOG_LEVELS[sc_log_level]);
}

static void core_index(sc_admin_http_t *h, sc_admin_call_t *c)
{
    if (!method_is(c, "GET"))
        return;
    sc_server_state_t st = {0};
    h->hooks.state(h->hooks.arg, &st);
    sc_admin_reply(c, 200);
    sc_admin_printf(c, "{\"core\":[\"transactions\",\"counters\",\"dialogs\",\"reload\",\"log-"
                       "level\"],\"links\":");
    if (st.chain)
        sc_chain_admin_describe(st.chain, c->out);
    else
        sc_admin_printf(c, "[]");
    sc_admin_printf(c, "}\n");
}

static const struct {
    const char *name;
    void (*fn)(sc_admin_http_t *h, sc_admin_call_t *c);
} CORE[] = {
    {"transactions", core_transactions}, {"counters", core_counters},
    {"dialogs", core_dialogs},           {"reload", core_reload},
    {"log-level", core_log_level},
};

/* --- HTTP -------------------------------------------------------------- */

static void send_json(struct evhttp_request *r, unsigned status, const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        evhttp_send_error(r, 500, "out of memory");
        return;
    }
    evbuffer_add(b, body, len);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(r);
    evhttp_add_header(hd, "Content-Type", "application/json");
    evhttp_add_header(hd, "Cache-Control", "no-store");
    if (status == 401)
        evhttp_add_header(hd, "WWW-Authenticate", "Bearer realm=\"sipchain\"");
    evhttp_send_reply(r, (int)status, NULL, b);
    evbuffer_free(b);
}

static void send_error(struct evhttp_request *r, unsigned status, const char *why)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (f == NULL) {
        evhttp_send_error(r, 500, "out of memory");
        return;
    }
    fputs("{\"error\":", f);
    sc_json_string(f, why);
    fputs("}\n", f);
    if (fclose(f) == 0)
        send_json(r, status, body, len);
    else
        evhttp_send_error(r, 500, "out of memory");
    free(body);
}

/* Compares without stopping at the first difference: how long it takes
 * says nothing about the token. */
static bool token_ok(const sc_admin_http_t *h, struct evhttp_request *r)
{
    if (h->token == NULL)
        return true;
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(r), "Authorization");
    if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
        return false;
    a += 7;
    size_t n = strlen(h->token), m = strlen(a);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(h->token[i] ^ (i < m ? a[i] : 0));
    return diff == 0;
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return NULL;
    }
}

static void dispatch(sc_admin_http_t *h, struct evhttp_request *r, sc_admin_call_t *c,
                     const char *resource)
{
    if (resource[0] == '\0') {
        core_index(h, c);
        return;
    }
    for (size_t i = 0; i < sizeof(CORE) / sizeof(CORE[0]); i++)
        if (strcmp(resource, CORE[i].name) == 0) {
            if (c->item[0] && CORE[i].fn != core_dialogs)
                sc_admin_fail(c, 404, "\"%s\" has no items", resource);
            else
                CORE[i].fn(h, c);
            return;
        }
    sc_server_state_t st = {0};
    h->hooks.state(h->hooks.arg, &st);
    sc_instance_t *inst;
    sc_admin_fn fn;
    void *arg;
    char why[512];
    int rc = st.chain ? sc_chain_admin_find(st.chain, resource, sc_admin_param(c, "link"), &inst,
                                            &fn, &arg, why, sizeof(why))
                      : -1;
    if (rc != 0) {
        sc_admin_fail(c, rc > 0 ? 409 : 404, "%s", st.chain ? why : "no chain");
        return;
    }
    (void)r;
    fn(inst, c, arg);
    if (c->status == 0)
        sc_admin_fail(c, 500, "the link \"%s\" did not answer", sc_instance_name(inst));
}

static void on_request(struct evhttp_request *r, void *arg)
{
    sc_admin_http_t *h = arg;
    if (!token_ok(h, r)) {
        send_error(r, 401, "a bearer token is required (Authorization: Bearer TOKEN)");
        return;
    }
    sc_admin_call_t c = {.item = ""};
    c.method = method_name(evhttp_request_get_command(r));
    if (c.method == NULL) {
        send_error(r, 405, "only GET, POST, PUT and DELETE");
        return;
    }
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r);
    const char *path = u ? evhttp_uri_get_path(u) : NULL,
               *query = u ? evhttp_uri_get_query(u) : NULL;
    if (path == NULL || strncmp(path, "/v1", 3) != 0 || (path[3] != '\0' && path[3] != '/')) {
        send_error(r, 404, "no such path: the API is under /v1 (GET /v1 lists it)");
        return;
    }
    /* /v1/RESOURCE/ITEM: the item is everything after, decoded (an AOR
     * carries '@' and ':'); a '/' inside it travels as %2F */
    char resource[64] = "";
    char *item = NULL;
    const char *p = path[3] ? path + 4 : path + 3, *slash = strchr(p, '/');
    size_t rlen = slash ? (size_t)(slash - p) : strlen(p);
    if (rlen >= sizeof(resource)) {
        send_error(r, 404, "no such resource");
        return;
    }
    memcpy(resource, p, rlen);
    resource[rlen] = '\0';
    if (slash && slash[1]) {
        size_t ilen;
        item = evhttp_uridecode(slash + 1, 0, &ilen);
        if (item == NULL || strlen(item) != ilen) {
            free(item);
            send_error(r, 400, "the item in the path does not decode (or holds a NUL)");
            return;
        }
        c.item = item;
    }
    struct evkeyvalq q;
    q.tqh_first = NULL;
    q.tqh_last = &q.tqh_first;
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        free(item);
        send_error(r, 400, "the query string does not parse");
        return;
    }
    for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
        if (c.nparams == SC_ADMIN_MAX_PARAMS) {
            evhttp_clear_headers(&q);
            free(item);
            send_error(r, 400, "too many query parameters");
            return;
        }
        c.params[c.nparams][0] = kv->key;
        c.params[c.nparams++][1] = kv->value;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(r);
    size_t blen = evbuffer_get_length(in);
    char *body = blen ? malloc(blen + 1) : NULL;
    if (blen && body == NULL) {
        evhttp_clear_headers(&q);
        free(item);
        send_error(r, 500, "out of memory");
        return;
    }
    if (body) {
        evbuffer_copyout(in, body, blen);
        body[blen] = '\0';
    }
    c.body = (sc_str_t){body, blen};
    if (sc_admin_call_open(&c) != 0) {
        send_error(r, 500, "out of memory");
    } else {
        dispatch(h, r, &c, resource);
        if (sc_admin_call_done(&c) == 0)
            send_json(r, c.status, c.text, c.len);
        else
            send_error(r, 500, "out of memory");
        free(c.text);
    }
    free(body);
    evhttp_clear_headers(&q);
    free(item);
}

sc_admin_http_t *sc_admin_http_new(struct event_base *base, const struct sockaddr *addr,
                                   socklen_t len, const char *token, const sc_admin_hooks_t *hooks,
                                   char *err, size_t errlen)
{
    sc_admin_http_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->http = evhttp_new(base)) == NULL ||
        (token && (h->token = strdup(token)) == NULL)) {
        snprintf(err, errlen, "out of memory");
        sc_admin_http_free(h);
        return NULL;
    }
    h->hooks = *hooks;
    if (addr->sa_family == AF_UNIX) {
        /* a file left by a process that died: a live server would answer */
        const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
        struct stat sb;
        if (lstat(un->sun_path, &sb) == 0 && S_ISSOCK(sb.st_mode))
            unlink(un->sun_path);
    }
    mode_t old = addr->sa_family == AF_UNIX ? umask(0117) : 0; /* owner and group only */
    struct evconnlistener *l = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
        addr, (int)len);
    if (addr->sa_family == AF_UNIX)
        umask(old);
    if (l == NULL) {
        snprintf(err, errlen, "%s", strerror(errno));
        sc_admin_http_free(h);
        return NULL;
    }
    if (addr->sa_family == AF_UNIX)
        snprintf(h->unix_path, sizeof(h->unix_path), "%s",
                 ((const struct sockaddr_un *)addr)->sun_path);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(h->http, 8192);
    evhttp_set_max_body_size(h->http, MAX_BODY);
    evhttp_set_timeout(h->http, 10);
    evhttp_set_gencb(h->http, on_request, h);
    if (evhttp_bind_listener(h->http, l) == NULL) {
        evconnlistener_free(l);
        snprintf(err, errlen, "cannot serve HTTP");
        sc_admin_http_free(h);
        return NULL;
    }
    return h;
}

void sc_admin_http_free(sc_admin_http_t *h)
{
    if (h == NULL)
        return;
    if (h->http)
        evhttp_free(h->http);
    if (h->unix_path[0])
        unlink(h->unix_path);
    free(h->token);
    free(h);
}
