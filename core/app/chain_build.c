/*
 * chain_build.c — making the chain from the config's "chain" list: each
 * entry names a module, optionally a methods filter, and the module's own
 * keys, which its create hook validates (DESIGN §4, §5).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain_impl.h"
#include "sc_auto_config.h"
#include "sc_json.h"
#include "sc_log.h"

static int read_methods(sc_instance_t *in, const sc_conf_node_t *m, char *err, size_t errlen)
{
    if (m->kind != SC_CONF_SEQ || m->children == NULL)
        return sc_conf_error(err, errlen, m, "\"methods\" must be a non-empty list of SIP methods");
    for (const sc_conf_node_t *e = m->children; e; e = e->next) {
        if (e->kind != SC_CONF_SCALAR || !sc_is_token(sc_str_cstr(e->value)) ||
            strlen(e->value) >= sizeof(in->methods[0]))
            return sc_conf_error(err, errlen, e, "\"%s\" is not a SIP method",
                                 e->kind == SC_CONF_SCALAR ? e->value : "(list)");
        if (in->nmethods == SC_MAX_METHOD_FILTER)
            return sc_conf_error(err, errlen, e, "at most %d methods", SC_MAX_METHOD_FILTER);
        strcpy(in->methods[in->nmethods++], e->value);
    }
    return 0;
}

/* chain: - module: X
 *          name: east
 * A link's name tells two instances of one module apart in the log, the
 * metrics, /status and the management API, and is its identity for
 * state kept across reloads (keep.c).  Letters, digits, '-', '_', '.';
 * unique in the chain. */
static int read_name(sc_chain_t *c, int i, const sc_conf_node_t *n, char *err, size_t errlen)
{
    sc_instance_t *in = &c->links[i];
    if (n->kind != SC_CONF_SCALAR || n->value[0] == '\0')
        return sc_conf_error(err, errlen, n, "\"name\" must be a non-empty name");
    size_t len = strlen(n->value);
    if (len >= sizeof(in->name))
        return sc_conf_error(err, errlen, n, "\"name\" is longer than %zu characters",
                             sizeof(in->name) - 1);
    if (strspn(n->value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != len)
        return sc_conf_error(err, errlen, n, "name \"%s\": only letters, digits, '-', '_' and '.'",
                             n->value);
    /* digits alone would read as a position (the metrics' link label of
     * an unnamed link) */
    if (strspn(n->value, "0123456789") == len)
        return sc_conf_error(err, errlen, n, "name \"%s\": not digits alone (positions are numbers)",
                             n->value);
    for (int k = 0; k < i; k++)
        if (strcmp(c->links[k].name, n->value) == 0)
            return sc_conf_error(err, errlen, n, "name \"%s\" is taken by link %d (%s)", n->value,
                                 k + 1, c->links[k].named ? "named so" : "its module's name");
    snprintf(in->name, sizeof(in->name), "%s", n->value);
    in->named = true;
    return 0;
}

static int create(sc_chain_t *c, int i, const sc_module_t *mod, const sc_conf_node_t *conf,
                  char *err, size_t errlen)
{
    sc_instance_t *in = &c->links[i];
    in->chain = c;
    in->mod = mod;
    for (int k = 0; k < i; k++)         /* its identity across reloads (keep.c) */
        in->ordinal += c->links[k].mod == mod ||
                       (c->links[k].mod && mod->name && c->links[k].mod->name &&
                        strcmp(c->links[k].mod->name, mod->name) == 0);
    in->base = c->base;
    const char *modname = mod->name ? mod->name : "module";
    snprintf(in->name, sizeof(in->name), "%s", modname);
    if (conf) {
        const sc_conf_node_t *nm = sc_conf_get(conf, "name");
        if (nm && read_name(c, i, nm, err, errlen))
            return -1;
        const sc_conf_node_t *m = sc_conf_get(conf, "methods");
        if (m && read_methods(in, m, err, errlen))
            return -1;
        /* unnamed, it goes by its module's name: which an earlier link
         * named so must not hold (?link= and the log would find two;
         * unnamed twins of one module are told apart by position) */
        for (int k = 0; k < i && !in->named; k++)
            if (c->links[k].named && strcmp(c->links[k].name, in->name) == 0)
                return sc_conf_error(err, errlen, sc_conf_get(conf, "module"),
                                     "link %d is named \"%s\", this module's name: give this "
                                     "link a name of its own, or that one another", k + 1, in->name);
    }
    if (in->named)
        snprintf(in->label, sizeof(in->label), "%s[%s]", modname, in->name);
    else
        snprintf(in->label, sizeof(in->label), "%s", modname);
    /* the link label: its name when it has one (stable across edits of
     * the chain), else its position */
    if (in->named)
        snprintf(in->link, sizeof(in->link), "%s", in->name);
    else
        snprintf(in->link, sizeof(in->link), "%d", i + 1);
    in->handle_time = sc_metric_kv(SC_METRIC_HISTOGRAM, "sipchain_module_handle_seconds",
                                   "time a module's handler takes on the event loop, without "
                                   "the links it calls in turn", "module", modname, "link",
                                   in->link);
    err[0] = '\0';
    in->created = true;     /* destroy runs even if create fails half-way */
    if (mod->create) {
        if (mod->create(in, conf, err, errlen) != 0) {
            if (err[0] == '\0')
                snprintf(err, errlen, "module \"%s\": create failed", in->label);
            return -1;
        }
    } else if (conf && sc_conf_check_keys(conf, (const char *const[]){ NULL }, err, errlen)) {
        return -1;
    }
    return 0;
}

static bool build_checking;        /* set around sc_chain_check's build */

static sc_chain_t *chain_new(int n, struct event_base *base, unsigned default_status)
{
    sc_chain_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->links = calloc((size_t)(n ? n : 1), sizeof(*c->links));
    if (c->links == NULL) {
        free(c);
        return NULL;
    }
    c->n = n;
    c->base = base;
    c->subs_tail = &c->subs;
    c->request_timeout_s = 32;      /* 64*T1: the life of a non-INVITE transaction */
    c->session_expires_s = 1800;
    c->min_se_s = 90;
    c->default_status = default_status;
    c->checking = build_checking;
    c->stack.agent = "sipchain/" SC_VERSION;
    return c;
}

sc_chain_t *sc_chain_build(sc_keep_t *keep, const sc_conf_node_t *chain, const char *modules_path,
                           struct event_base *base, unsigned default_status, char *err,
                           size_t errlen)
{
    int n = 0;
    if (chain && chain->kind != SC_CONF_SEQ) {
        sc_conf_error(err, errlen, chain, "\"chain\" must be a list of modules");
        return NULL;
    }
    for (const sc_conf_node_t *e = chain ? chain->children : NULL; e; e = e->next)
        n++;
    sc_chain_t *c = chain_new(n, base, default_status);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->keep = keep;
    int i = 0;
    for (const sc_conf_node_t *e = chain ? chain->children : NULL; e; e = e->next, i++) {
        if (e->kind != SC_CONF_MAP) {
            sc_conf_error(err, errlen, e, "a chain entry must be a mapping with \"module\"");
            goto fail;
        }
        const sc_conf_node_t *name = sc_conf_get(e, "module");
        if (name == NULL) {
            sc_conf_error(err, errlen, e, "chain entry needs \"module\"");
            goto fail;
        }
        if (name->kind != SC_CONF_SCALAR) {
            sc_conf_error(err, errlen, name, "\"module\" must be a module name");
            goto fail;
        }
        char why[768];
        const sc_module_t *mod = sc_module_load(modules_path, name->value, &c->links[i].dl, why,
                                                sizeof(why));
        if (mod == NULL) {
            sc_conf_error(err, errlen, name, "%s", why);
            goto fail;
        }
        if (create(c, i, mod, e, err, errlen))
            goto fail;
    }
    return c;
fail:
    sc_chain_free(c);
    return NULL;
}

sc_chain_t *sc_chain_check(const sc_conf_node_t *chain, const char *modules_path,
                           struct event_base *base, unsigned default_status, char *err,
                           size_t errlen)
{
    build_checking = true;
    sc_chain_t *c = sc_chain_build(NULL, chain, modules_path, base, default_status, err, errlen);
    build_checking = false;
    return c;
}

bool sc_instance_checking(const sc_instance_t *in)
{
    return in && in->chain && in->chain->checking;
}

int sc_check_writable(const char *path, char *why, size_t whylen)
{
    if (access(path, F_OK) == 0) {
        if (access(path, W_OK) == 0)
            return 0;
        snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    if (errno != ENOENT) {
        snprintf(why, whylen, "cannot reach %s: %s", path, strerror(errno));
        return -1;
    }
    char dir[1024];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) == 0)
        return 0;
    snprintf(why, whylen, "cannot create %s: %s: %s", path, dir, strerror(errno));
    return -1;
}

sc_chain_t *sc_chain_build_static(const sc_module_t *const *mods, const sc_conf_node_t *const *confs,
                                  int n, struct event_base *base, unsigned default_status,
                                  char *err, size_t errlen)
{
    sc_chain_t *c = chain_new(n, base, default_status);
    if (c == NULL)
        return NULL;
    for (int i = 0; i < n; i++)
        if (create(c, i, mods[i], confs ? confs[i] : NULL, err, errlen)) {
            sc_chain_free(c);
            return NULL;
        }
    return c;
}

int sc_chain_start(sc_chain_t *c, char *err, size_t errlen)
{
    c->started = true;
    for (int i = 0; i < c->n; i++) {
        sc_instance_t *in = &c->links[i];
        if (in->mod->start && in->mod->start(in) != 0) {
            snprintf(err, errlen, "module \"%s\" failed to start", in->label);
            return -1;
        }
    }
    return 0;
}

void sc_chain_free(sc_chain_t *c)
{
    if (c == NULL)
        return;
    sc_chain_abort_pending(c);
    sc_chain_drop_uacs(c);      /* no callback into a module being unloaded */
    sc_chain_drop_calls(c);
    sc_chain_drop_dialogs(c);
    sc_chain_drop_proxies(c);
    for (int i = c->n - 1; i >= 0; i--) {
        sc_instance_t *in = &c->links[i];
        if (c->started && in->created && in->mod->stop)
            in->mod->stop(in);
    }
    for (int i = c->n - 1; i >= 0; i--) {
        sc_instance_t *in = &c->links[i];
        if (in->created && in->mod->destroy)
            in->mod->destroy(in);
        sc_admin_forget(in);
        sc_metric_release(&in->metrics);
        if (in->dl)
            dlclose(in->dl);
    }
    for (service_t *sv = c->services, *nx; sv; sv = nx) {
        nx = sv->next;
        free(sv->name);
        free(sv);
    }
    for (subscription_t *sb = c->subs, *nx; sb; sb = nx) {
        nx = sb->next;
        free(sb->event);
        free(sb);
    }
    free(c->links);
    free(c);
}

int sc_service_publish(sc_instance_t *in, const char *name, const void *api)
{
    sc_chain_t *c = in->chain;
    if (sc_service_find(in, name)) {
        sc_log(SC_LOG_ERROR, "%s: service \"%s\" is published already", in->label, name);
        return -1;
    }
    service_t *sv = calloc(1, sizeof(*sv));
    if (sv == NULL || (sv->name = strdup(name)) == NULL) {
        free(sv);
        return -1;
    }
    sv->api = api;
    sv->owner = in;
    sv->next = c->services;
    c->services = sv;
    return 0;
}

const void *sc_service_find(const sc_instance_t *in, const char *name)
{
    for (const service_t *sv = in->chain->services; sv; sv = sv->next)
        if (strcmp(sv->name, name) == 0)
            return sv->api;
    return NULL;
}

int sc_event_subscribe(sc_instance_t *in, const char *event, sc_event_cb cb, void *arg)
{
    sc_chain_t *c = in->chain;
    subscription_t *sb = calloc(1, sizeof(*sb));
    if (sb == NULL || (sb->event = strdup(event)) == NULL) {
        free(sb);
        return -1;
    }
    sb->cb = cb;
    sb->arg = arg;
    *c->subs_tail = sb;
    c->subs_tail = &sb->next;
    return 0;
}

void sc_event_emit(const sc_instance_t *in, const char *event, const void *data)
{
    sc_chain_emit(in->chain, event, data);
}

void sc_chain_emit(const sc_chain_t *c, const char *event, const void *data)
{
    for (const subscription_t *sb = c->subs; sb; sb = sb->next)
        if (strcmp(sb->event, event) == 0)
            sb->cb(event, data, sb->arg);
}

/* --- instances and configuration as modules see them --------------------- */

sc_metric_t *sc_instance_counter(sc_instance_t *in, const char *name, const char *help,
                                 const char *labels)
{
    return sc_metric_view(SC_METRIC_COUNTER, name, help, labels, in->link, &in->metrics);
}

sc_metric_t *sc_instance_gauge(sc_instance_t *in, const char *name, const char *help,
                               const char *labels)
{
    return sc_metric_view(SC_METRIC_GAUGE, name, help, labels, in->link, &in->metrics);
}

sc_metric_t *sc_instance_histogram(sc_instance_t *in, const char *name, const char *help,
                                   const char *labels)
{
    return sc_metric_view(SC_METRIC_HISTOGRAM, name, help, labels, in->link, &in->metrics);
}

void sc_instance_set_data(sc_instance_t *in, void *data) { in->data = data; }
void *sc_instance_data(const sc_instance_t *in) { return in->data; }
const char *sc_instance_name(const sc_instance_t *in) { return in->name; }

void sc_instance_take_require(sc_instance_t *in)
{
    if (in && in->chain)
        in->chain->take_require = true;
}

bool sc_chain_takes_require(const sc_chain_t *c) { return c && c->take_require; }

void sc_link_describe_head(const sc_chain_t *c, int i, FILE *f)
{
    const sc_instance_t *in = &c->links[i];
    fprintf(f, "%s{\"link\":%d,\"name\":", i ? "," : "", i + 1);
    sc_json_string(f, in->name);
    fputs(",\"module\":", f);
    sc_json_string(f, in->mod->name ? in->mod->name : "module");
}

void sc_chain_describe(const sc_chain_t *c, FILE *f)
{
    fputc('[', f);
    for (int i = 0; i < c->n; i++) {
        const sc_instance_t *in = &c->links[i];
        sc_link_describe_head(c, i, f);
        fputs(",\"version\":", f);
        sc_json_string(f, in->mod->version ? in->mod->version : "");
        fputs(",\"methods\":[", f);
        for (int k = 0; k < in->nmethods; k++) {
            fputs(k ? "," : "", f);
            sc_json_string(f, in->methods[k]);
        }
        fputs("]}", f);
    }
    fputc(']', f);
}
struct event_base *sc_instance_base(const sc_instance_t *in) { return in->base; }

size_t sc_instance_listeners(const sc_instance_t *in, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    return in->chain->stack.tps ? sc_tp_set_describe(in->chain->stack.tps, out, cap) : 0;
}

void sc_instance_log(const sc_instance_t *in, int level, const char *fmt, ...)
{
    if (level < SC_LOG_LEVEL_ERROR || level > SC_LOG_LEVEL_DEBUG || (sc_log_level_t)level > sc_log_level)
        return;
    char line[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sc_log_write_module((sc_log_level_t)level, in ? in->label : "module", "%s", line);
}

int sc_conf_check_keys(const sc_conf_node_t *node, const char *const *keys, char *err, size_t errlen)
{
    static const char *const core_keys[] = { "module", "name", "methods", NULL };   /* read by the core */
    return sc_conf_keys_allowed(node, keys, core_keys, err, errlen);
}

const sc_conf_node_t *sc_conf_first(const sc_conf_node_t *seq)
{
    return seq && seq->kind != SC_CONF_SCALAR ? seq->children : NULL;
}

const sc_conf_node_t *sc_conf_next(const sc_conf_node_t *n)
{
    return n ? n->next : NULL;
}
