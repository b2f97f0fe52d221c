/*
 * admin.c — the guard's management resource, "blocks":
 *
 *   GET    /v1/blocks          every source and user blocked now
 *   DELETE /v1/blocks/NAME     lifts one block: NAME as listed ("192.0.2.7",
 *                              "2001:db8::/64", "alice@example.com")
 *
 * A block lifted is logged and counted like one whose time ran out.
 */
#include <stdio.h>
#include <string.h>

#include "guard.h"

static void on_call(sc_instance_t *inst, sc_admin_call_t *c, void *arg)
{
    guard_t *g = arg;
    g->st->owner = g;
    const char *m = sc_admin_method(c), *item = sc_admin_item(c);
    uint64_t now = guard_now_ms();
    (void)inst;
    guard_sweep(g, now); /* what ran out is not shown */
    if (item[0] == '\0') {
        if (strcmp(m, "GET") != 0) {
            sc_admin_fail(c, 405, "%s is not allowed on the list: GET it, or DELETE one block", m);
            return;
        }
        sc_admin_reply(c, 200);
        sc_admin_printf(c, "{\"sources\":%zu,\"users\":%zu,\"blocks\":[", g->st->nblocked_sources,
                        g->st->nblocked_users);
        for (const entry_t *e = g->st->blocked; e; e = e->bnext) {
            sc_admin_printf(c, "%s{\"kind\":\"%s\",\"name\":", e == g->st->blocked ? "" : ",",
                            e->key[0] == 'u' ? "user" : "source");
            sc_admin_json_str(c, (sc_str_t){e->name, strlen(e->name)});
            sc_admin_printf(c, ",\"reason\":\"%s\",\"seconds_left\":%llu}",
                            guard_reason_name((block_reason_t)e->reason),
                            (unsigned long long)((e->until_ms - now + 999) / 1000));
        }
        sc_admin_printf(c, "]}\n");
        return;
    }
    if (strcmp(m, "DELETE") != 0) {
        sc_admin_fail(c, 405, "%s is not allowed on a block: DELETE lifts it", m);
        return;
    }
    for (entry_t *e = g->st->blocked; e; e = e->bnext)
        if (strcmp(e->name, item) == 0) {
            bool user = e->key[0] == 'u';
            guard_unblock(g, e, "lifted through the management API");
            sc_admin_reply(c, 200);
            sc_admin_printf(c, "{\"lifted\":");
            sc_admin_json_str(c, (sc_str_t){item, strlen(item)});
            sc_admin_printf(c, ",\"kind\":\"%s\"}\n", user ? "user" : "source");
            return;
        }
    sc_admin_fail(c, 404, "\"%s\" is not blocked (GET /v1/blocks lists what is)", item);
}

int guard_admin_register(guard_t *g)
{
    return sc_admin_register(g->inst, "blocks", on_call, g);
}
