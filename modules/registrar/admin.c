/*
 * admin.c — the registrar's management resource, "registrations":
 *
 *   GET    /v1/registrations          every AOR and its bindings (?max=N AORs)
 *   GET    /v1/registrations/AOR      one AOR ("alice@example.com" or a sip: URI)
 *   DELETE /v1/registrations/AOR      drops all its bindings (on disk too)
 *
 * Expired bindings the sweep has not reached yet are not shown: a lookup
 * would not find them either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define MAX_DEFAULT 1000

static void put_text(sc_admin_call_t *c, const char *key, const char *v)
{
    sc_admin_printf(c, ",\"%s\":", key);
    if (v)
        sc_admin_json_str(c, text_of(v));
    else
        sc_admin_printf(c, "null");
}

static int put_aor(sc_admin_call_t *c, const aor_t *a, time_t now, bool comma)
{
    int n = 0;
    sc_admin_printf(c, "%s{\"aor\":", comma ? "," : "");
    sc_admin_json_str(c, text_of(a->aor));
    sc_admin_printf(c, ",\"bindings\":[");
    for (const binding_t *b = a->bindings; b; b = b->next) {
        if (b->expires_at <= now)
            continue;
        sc_admin_printf(c, "%s{\"contact\":", n++ ? "," : "");
        sc_admin_json_str(c, text_of(b->uri));
        sc_admin_printf(c, ",\"expires_in\":%ld,\"q\":", (long)(b->expires_at - now));
        if (b->q >= 0)
            sc_admin_printf(c, "%d.%03d", b->q / 1000, b->q % 1000);
        else
            sc_admin_printf(c, "null");
        put_text(c, "received", b->received);
        put_text(c, "path", b->path);
        put_text(c, "instance", b->instance);
        put_text(c, "call_id", b->call_id);
        sc_admin_printf(c, ",\"cseq\":%u}", b->cseq);
    }
    sc_admin_printf(c, "]}");
    return n;
}

/* "alice@example.com" or "sip:alice@example.com;..." as the store's key */
static bool aor_key(const char *item, char *out, size_t cap)
{
    char uri[600];
    bool scheme = strncmp(item, "sip:", 4) == 0 || strncmp(item, "sips:", 5) == 0;
    if (snprintf(uri, sizeof(uri), "%s%s", scheme ? "" : "sip:", item) >= (int)sizeof(uri))
        return false;
    return sc_uri_aor(text_of(uri), out, cap) >= 0 && strchr(out, '@') != NULL;
}

static void on_call(sc_instance_t *inst, sc_admin_call_t *c, void *arg)
{
    reg_admin_t *ra = arg;
    store_t *s = *ra->store;
    const char *m = sc_admin_method(c), *item = sc_admin_item(c);
    time_t now = time(NULL);
    (void)inst;
    if (item[0] == '\0') {
        if (strcmp(m, "GET") != 0) {
            sc_admin_fail(c, 405, "%s is not allowed on the list: GET it, or DELETE one AOR", m);
            return;
        }
        const char *mx = sc_admin_param(c, "max");
        char *end = NULL;
        unsigned long max = mx ? strtoul(mx, &end, 10) : MAX_DEFAULT;
        if (mx && (*mx == '\0' || *end != '\0')) {
            sc_admin_fail(c, 400, "max must be a number, not \"%s\"", mx);
            return;
        }
        sc_admin_reply(c, 200);
        sc_admin_printf(c, "{\"aors\":%zu,\"bindings\":%zu,\"registrations\":[", s->naors,
                        s->nbindings);
        unsigned long shown = 0;
        for (size_t i = 0; i < s->cap && shown < max; i++)
            for (const aor_t *a = s->tab[i]; a && shown < max; a = a->next, shown++)
                put_aor(c, a, now, shown > 0);
        sc_admin_printf(c, "]}\n");
        return;
    }
    char key[600];
    if (!aor_key(item, key, sizeof(key))) {
        sc_admin_fail(c, 400, "\"%s\" is not an address-of-record (user@domain or a sip: URI)",
                      item);
        return;
    }
    aor_t *a = store_aor(s, key, false);
    bool live = false;
    for (const binding_t *b = a ? a->bindings : NULL; b; b = b->next)
        live |= b->expires_at > now;
    if (!live) {
        sc_admin_fail(c, 404, "no registration for %s", key);
        return;
    }
    if (strcmp(m, "GET") == 0) {
        sc_admin_reply(c, 200);
        put_aor(c, a, now, false);
        sc_admin_printf(c, "\n");
    } else if (strcmp(m, "DELETE") == 0) {
        int n = a->n;
        /* the last removal frees the AOR: count first, walk with care */
        while (a->n > 1) {
            persist_remove(s, a, a->bindings);
            store_remove(s, a, a->bindings);
        }
        persist_remove(s, a, a->bindings);
        store_remove(s, a, a->bindings);
        ra->changed(ra->arg);
        sc_instance_log(inst, SC_LOG_LEVEL_INFO,
                        "%s: %d binding(s) deleted through the management API", key, n);
        sc_admin_reply(c, 200);
        sc_admin_printf(c, "{\"deleted\":");
        sc_admin_json_str(c, text_of(key));
        sc_admin_printf(c, ",\"bindings\":%d}\n", n);
    } else {
        sc_admin_fail(c, 405, "%s is not allowed on an AOR: GET or DELETE", m);
    }
}

int reg_admin_register(sc_instance_t *inst, reg_admin_t *ra)
{
    return sc_admin_register(inst, "registrations", on_call, ra);
}
