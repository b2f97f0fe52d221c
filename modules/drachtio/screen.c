/* screen.c — see screen.h.  drachtio-server's spammer check
 * (controller.cpp processMessageStatelessly) looks at User-Agent and the
 * user parts of To and From, case-sensitively, and always answers 603
 * whatever its action attribute says; here any header can be named, the
 * match ignores case, and "discard" really discards. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "screen.h"

static bool contains(sc_str_t h, const char *p)
{
    size_t n = strlen(p);
    for (size_t i = 0; i + n <= h.len; i++)
        if (strncasecmp(h.s + i, p, n) == 0)
            return true;
    return false;
}

static bool is_ack(sc_req_t *req)
{
    sc_str_t m = sc_req_method(req);
    return m.len == 3 && memcmp(m.s, "ACK", 3) == 0;
}

/* A list of strings (NULL-terminated, malloc'ed) from a YAML sequence. */
static int strings(const sc_conf_node_t *n, const char ***out, const char *what, char *err, size_t errlen)
{
    const char *one;
    char ignore[8];
    if (sc_conf_string(n, &one, ignore, sizeof(ignore)) == 0)
        return sc_conf_error(err, errlen, n, "drachtio: %s must be a list of strings", what);
    size_t cnt = 0;
    for (const sc_conf_node_t *v = sc_conf_first(n); v; v = sc_conf_next(v))
        cnt++;
    const char **list = calloc(cnt + 1, sizeof(*list));
    if (list == NULL)
        return sc_conf_error(err, errlen, n, "out of memory");
    *out = list;
    size_t i = 0;
    for (const sc_conf_node_t *v = sc_conf_first(n); v; v = sc_conf_next(v)) {
        if (sc_conf_string(v, &list[i], err, errlen))
            return -1;
        if (list[i++][0] == '\0')
            return sc_conf_error(err, errlen, v, "drachtio: an empty pattern would match everything");
    }
    return 0;
}

static int spammers(dr_screen_t *s, const sc_conf_node_t *sp, char *err, size_t errlen)
{
    static const char *const keys[] = { "action", "status", "headers", NULL };
    const sc_conf_node_t *n;
    if (sc_conf_check_keys(sp, keys, err, errlen))
        return -1;
    if ((n = sc_conf_get(sp, "action"))) {
        const char *a;
        if (sc_conf_string(n, &a, err, errlen))
            return -1;
        if (strcmp(a, "reject") && strcmp(a, "discard"))
            return sc_conf_error(err, errlen, n, "drachtio: spammers \"action\" must be reject or discard");
        s->discard = strcmp(a, "discard") == 0;
    }
    if ((n = sc_conf_get(sp, "status"))) {
        unsigned long v;
        if (sc_conf_uint(n, 699, &v, err, errlen))
            return -1;
        if (v < 400)
            return sc_conf_error(err, errlen, n, "drachtio: spammers \"status\" must be 400 to 699");
        s->status = (unsigned)v;
    }
    const sc_conf_node_t *h = sc_conf_get(sp, "headers");
    if (h == NULL)
        return sc_conf_error(err, errlen, sp, "drachtio: spammers needs \"headers\" (a map of header name to patterns)");
    for (const sc_conf_node_t *r = sc_conf_first(h); r; r = sc_conf_next(r)) {
        if (s->nrules == DR_MAX_SPAM_RULES)
            return sc_conf_error(err, errlen, r, "drachtio: at most %d spammer headers", DR_MAX_SPAM_RULES);
        dr_spam_rule_t *rule = &s->rules[s->nrules];
        if ((rule->header = sc_conf_key(r)) == NULL)
            return sc_conf_error(err, errlen, h, "drachtio: spammers \"headers\" must be a map");
        s->nrules++;
        if (strings(r, &rule->values, "a spammer header's patterns", err, errlen))
            return -1;
    }
    return 0;
}

int dr_screen_conf(dr_screen_t *s, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    *s = (dr_screen_t){ .status = 603, .options_200 = true };
    const sc_conf_node_t *n;
    if ((n = sc_conf_get(conf, "spammers")) && spammers(s, n, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "options_200")) && sc_conf_bool(n, &s->options_200, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "options_user_agents")) &&
        strings(n, &s->options_uas, "\"options_user_agents\"", err, errlen))
        return -1;
    return 0;
}

void dr_screen_free(dr_screen_t *s)
{
    for (int i = 0; i < s->nrules; i++)
        free(s->rules[i].values);
    free(s->options_uas);
    *s = (dr_screen_t){ 0 };
}

/* What a rule looks at: To / From: the user part of the URI; any other
 * header: its lines. */
static const char *matches(const dr_spam_rule_t *r, sc_req_t *req)
{
    bool to = strcasecmp(r->header, "To") == 0, from = strcasecmp(r->header, "From") == 0;
    for (int line = 0;; line++) {
        sc_str_t v, host;
        if (to || from) {
            if (line > 0 || sc_uri_user_host(to ? sc_req_to_uri(req) : sc_req_from_uri(req), &v, &host) != 0)
                return NULL;
        } else if ((v = sc_req_header_at(req, r->header, line)).len == 0) {
            return NULL;
        }
        for (const char *const *p = r->values; *p; p++)
            if (contains(v, *p))
                return *p;
    }
}

bool dr_screen_spam(const dr_screen_t *s, sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    for (int i = 0; i < s->nrules; i++) {
        const char *hit = matches(&s->rules[i], req);
        if (hit == NULL)
            continue;
        sc_instance_log(inst, SC_LOG_LEVEL_INFO, "spammer from %s:%u (%s contains \"%s\"): %s",
                        sc_req_source_ip(req), (unsigned)sc_req_source_port(req), s->rules[i].header, hit,
                        s->discard || is_ack(req) ? "discarded" : "rejected");
        if (s->discard || is_ack(req))
            sc_req_drop(req);
        else
            sc_res_send(res, s->status, s->status == 603 ? "Decline" : NULL);
        return true;
    }
    return false;
}

bool dr_screen_options(const dr_screen_t *s, sc_req_t *req, sc_res_t *res, bool routed)
{
    sc_str_t m = sc_req_method(req);
    if (m.len != 7 || memcmp(m.s, "OPTIONS", 7) != 0 || sc_req_to_tag(req).len)
        return false;
    bool ua = false;
    sc_str_t agent = sc_req_header(req, "User-Agent");
    for (const char *const *p = s->options_uas; p && *p && !ua; p++)
        ua = contains(agent, *p);
    if (!ua && (routed || !s->options_200))
        return false;
    sc_res_send(res, 200, NULL);
    return true;
}
