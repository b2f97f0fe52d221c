/* admin_http.h — the management API (server.admin): JSON over HTTP on its
 * own listener (TCP on loopback by default, or a unix socket), apart from
 * the metrics one because it changes things: a scrape target may be
 * reachable by more people than should end calls.
 *
 *   GET    /v1                     the core's resources and each link's
 *   GET    /v1/transactions        transactions in flight (?max=N)
 *   GET    /v1/counters            the metrics registry as JSON
 *   GET    /v1/dialogs             every live dialog, whichever link made it
 *   DELETE /v1/dialogs/ID          ends one: BYE (its module hears of it)
 *   POST   /v1/reload              a reload, as SIGHUP; its outcome
 *   GET    /v1/log-level           the log level
 *   PUT    /v1/log-level           {"level": "debug"}: until the next reload
 *   *      /v1/RESOURCE[/ITEM]     a link's resource (sc_admin_register),
 *                                  ?link=NAME when several links have it
 *
 * With a token every request needs "Authorization: Bearer TOKEN" (401
 * otherwise).  Every answer is JSON; every error is {"error": "..."}. */
#ifndef SC_ADMIN_HTTP_H
#define SC_ADMIN_HTTP_H

#include <sys/socket.h>

#include <event2/event.h>

#include "metrics_http.h"
#include "txn.h"

typedef struct {
    sc_server_state_fn state;
    /* a reload now: 0, or -1 with the reason in err */
    int (*reload)(void *arg, char *err, size_t errlen);
    /* the running chain and those still draining after a reload: up to
     * max into out, their number */
    int (*chains)(void *arg, sc_chain_t **out, int max);
    const sc_txn_layer_t *txns;
    void *arg;
} sc_admin_hooks_t;

typedef struct sc_admin_http sc_admin_http_t;

/* Listens on addr (TCP or AF_UNIX: a stale socket file is replaced);
 * token NULL: none.  NULL with the reason in err. */
sc_admin_http_t *sc_admin_http_new(struct event_base *base, const struct sockaddr *addr,
                                   socklen_t len, const char *token, const sc_admin_hooks_t *hooks,
                                   char *err, size_t errlen);
/* Closes it (and removes its unix socket file). */
void sc_admin_http_free(sc_admin_http_t *h);

#endif
