/*
 * admin.c — management resources the links publish (sc_admin_register)
 * and the call a handler answers.  The HTTP side (authentication, paths,
 * the core's own resources) is the process layer's: core/admin_http.c.
 *
 * A resource belongs to the instance that registered it, so a reload
 * brings the new chain's resources with the new chain, and the old ones
 * go with the old instances.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_impl.h"
#include "sc_json.h"
#include "sc_log.h"

struct admin_res {
    char name[32];
    sc_admin_fn fn;
    void *arg;
    struct admin_res *next;
};

int sc_admin_register(sc_instance_t *inst, const char *resource, sc_admin_fn fn, void *arg)
{
    size_t len = resource ? strlen(resource) : 0;
    if (len == 0 || len >= sizeof(((struct admin_res *)0)->name) ||
        strspn(resource, "abcdefghijklmnopqrstuvwxyz0123456789-") != len || fn == NULL) {
        sc_log(SC_LOG_ERROR, "%s: \"%s\" is no management resource name", inst->label,
               resource ? resource : "(null)");
        return -1;
    }
    for (struct admin_res *r = inst->admin; r; r = r->next)
        if (strcmp(r->name, resource) == 0) {
            sc_log(SC_LOG_ERROR, "%s: resource \"%s\" is registered already", inst->label,
                   resource);
            return -1;
        }
    struct admin_res *r = calloc(1, sizeof(*r)), **tail = &inst->admin;
    if (r == NULL)
        return -1;
    memcpy(r->name, resource, len + 1);
    r->fn = fn;
    r->arg = arg;
    while (*tail) /* in registration order, for the index */
        tail = &(*tail)->next;
    *tail = r;
    return 0;
}

void sc_admin_forget(sc_instance_t *inst)
{
    for (struct admin_res *r = inst->admin, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    inst->admin = NULL;
}

static struct admin_res *res_of(const sc_instance_t *in, const char *resource)
{
    for (struct admin_res *r = in->admin; r; r = r->next)
        if (strcmp(r->name, resource) == 0)
            return r;
    return NULL;
}

int sc_chain_admin_find(const sc_chain_t *c, const char *resource, const char *link,
                        sc_instance_t **inst, sc_admin_fn *fn, void **arg, char *err, size_t errlen)
{
    int found = -1, n = 0;
    for (int i = 0; i < c->n; i++) {
        if (res_of(&c->links[i], resource) == NULL)
            continue;
        if (link && strcmp(c->links[i].name, link) != 0)
            continue;
        n++;
        if (found < 0)
            found = i;
    }
    if (n == 1) {
        struct admin_res *r = res_of(&c->links[found], resource);
        *inst = &c->links[found];
        *fn = r->fn;
        *arg = r->arg;
        return 0;
    }
    if (n == 0) {
        if (link)
            snprintf(err, errlen, "no link named \"%s\" has the resource \"%s\"", link, resource);
        else
            snprintf(err, errlen, "no resource \"%s\" (GET /v1 lists them)", resource);
        return -1;
    }
    /* several: the caller names one (?link=); unnamed twins cannot be told
     * apart, which is what chain: name: is for */
    size_t at =
        (size_t)snprintf(err, errlen, "%d links have \"%s\": name one with ?link=", n, resource);
    for (int i = 0, k = 0; i < c->n && at < errlen; i++)
        if (res_of(&c->links[i], resource))
            at +=
                (size_t)snprintf(err + at, errlen - at, "%s%s", k++ ? ", " : " ", c->links[i].name);
    return 1;
}

void sc_chain_admin_describe(const sc_chain_t *c, FILE *f)
{
    fputc('[', f);
    for (int i = 0; i < c->n; i++) {
        const sc_instance_t *in = &c->links[i];
        sc_link_describe_head(c, i, f);
        fputs(",\"resources\":[", f);
        for (const struct admin_res *r = in->admin; r; r = r->next) {
            fputs(r == in->admin ? "" : ",", f);
            sc_json_string(f, r->name);
        }
        fputs("]}", f);
    }
    fputc(']', f);
}

/* --- dialogs, whichever link made them ---------------------------------- */

struct dlg_walk {
    FILE *f;
    unsigned *n;
    const char *want;
    sc_dialog_t *found;
};

static void json_view(FILE *f, const char *key, sc_str_t v)
{
    fprintf(f, ",\"%s\":\"", key);
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void dlg_one(sc_dialog_t *d, const sc_instance_t *owner, void *arg)
{
    struct dlg_walk *w = arg;
    FILE *f = w->f;
    fprintf(f, "%s{\"id\":", (*w->n)++ ? "," : "");
    sc_json_string(f, sc_dialog_id(d));
    fputs(",\"link\":", f);
    sc_json_string(f, owner ? owner->name : "");
    fputs(",\"module\":", f);
    sc_json_string(f, owner && owner->mod->name ? owner->mod->name : "");
    fprintf(f, ",\"role\":\"%s\"", sc_dialog_is_uac(d) ? "uac" : "uas");
    json_view(f, "call_id", sc_dialog_call_id(d));
    json_view(f, "local_tag", sc_dialog_local_tag(d));
    json_view(f, "remote_tag", sc_dialog_remote_tag(d));
    json_view(f, "local_uri", sc_dialog_local_uri(d));
    json_view(f, "remote_uri", sc_dialog_remote_uri(d));
    fputc('}', f);
}

void sc_chain_admin_dialogs(sc_chain_t *c, FILE *f, unsigned *n)
{
    struct dlg_walk w = {.f = f, .n = n};
    sc_chain_walk_dialogs(c, dlg_one, &w);
}

static void dlg_find(sc_dialog_t *d, const sc_instance_t *owner, void *arg)
{
    struct dlg_walk *w = arg;
    (void)owner;
    if (w->found == NULL && strcmp(sc_dialog_id(d), w->want) == 0)
        w->found = d;
}

bool sc_chain_admin_end_dialog(sc_chain_t *c, const char *id)
{
    struct dlg_walk w = {.want = id};
    sc_chain_walk_dialogs(c, dlg_find, &w);
    if (w.found == NULL)
        return false;
    sc_dialog_end(w.found, "system-initiated-termination");
    return true;
}

/* --- the call --------------------------------------------------------- */

int sc_admin_call_open(sc_admin_call_t *c)
{
    c->out = open_memstream(&c->text, &c->len);
    return c->out ? 0 : -1;
}

int sc_admin_call_done(sc_admin_call_t *c)
{
    if (c->out == NULL)
        return -1;
    int rc = fclose(c->out);
    c->out = NULL;
    return rc == 0 ? 0 : -1;
}

const char *sc_admin_method(const sc_admin_call_t *c)
{
    return c->method;
}
const char *sc_admin_item(const sc_admin_call_t *c)
{
    return c->item;
}
sc_str_t sc_admin_body(const sc_admin_call_t *c)
{
    return c->body;
}

const char *sc_admin_param(const sc_admin_call_t *c, const char *name)
{
    for (int i = 0; i < c->nparams; i++)
        if (strcmp(c->params[i][0], name) == 0)
            return c->params[i][1];
    return NULL;
}

/* A second answer from one handler starts over: the last one counts. */
void sc_admin_reply(sc_admin_call_t *c, unsigned status)
{
    if (c->status != 0 && c->out) {
        fclose(c->out);
        free(c->text);
        c->text = NULL;
        c->len = 0;
        c->out = open_memstream(&c->text, &c->len);
    }
    c->status = status;
}

void sc_admin_printf(sc_admin_call_t *c, const char *fmt, ...)
{
    if (c->out == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
}

void sc_admin_json_str(sc_admin_call_t *c, sc_str_t s)
{
    if (c->out == NULL)
        return;
    fputc('"', c->out);
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.s[i];
        if (ch == '"' || ch == '\\')
            fprintf(c->out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(c->out, "\\u%04x", ch);
        else
            fputc(ch, c->out);
    }
    fputc('"', c->out);
}

void sc_admin_fail(sc_admin_call_t *c, unsigned status, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    sc_admin_reply(c, status);
    if (c->out == NULL)
        return;
    fputs("{\"error\":", c->out);
    sc_json_string(c->out, why);
    fputs("}\n", c->out);
}
