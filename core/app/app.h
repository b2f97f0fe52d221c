/*
 * app.h — the framework as the server core drives it: a chain of module
 * instances built from the config's "chain" list, and requests run
 * through it (DESIGN §4).  Modules see only include/sipchain.h.
 */
#ifndef SC_APP_H
#define SC_APP_H

#include <stdio.h>
#include <sipchain.h>

#include "sc_conf.h"
#include "dialog.h"
#include "resolver.h"
#include "transport.h"
#include "txn.h"

typedef struct sc_chain sc_chain_t;

/* Loads every module of the "chain" node (NULL or an empty list is an
 * empty chain), creates each instance with its config.  NULL on error
 * with "file:line:col: ..." in err. */
/* The server's store of module state kept across reloads (keep.c). */
typedef struct sc_keep sc_keep_t;
sc_keep_t *sc_keep_new(void);
void       sc_keep_free(sc_keep_t *k);
/* keep: where the chain's instances find the state the running chain's
 * kept (NULL: none; sc_kept then makes and drops plainly). */
sc_chain_t *sc_chain_build(sc_keep_t *keep, const sc_conf_node_t *chain, const char *modules_path,
                           struct event_base *base, unsigned default_status, char *err,
                           size_t errlen);
/* The same, built only to be checked (sipchain -t): the modules see
 * sc_instance_checking and make no files, threads or sockets. */
sc_chain_t *sc_chain_check(const sc_conf_node_t *chain, const char *modules_path,
                           struct event_base *base, unsigned default_status, char *err,
                           size_t errlen);
/* Instances built in-process (tests): mods[i] with confs[i] (may be NULL). */
sc_chain_t *sc_chain_build_static(const sc_module_t *const *mods, const sc_conf_node_t *const *confs,
                                  int n, struct event_base *base, unsigned default_status,
                                  char *err, size_t errlen);
int  sc_chain_start(sc_chain_t *chain, char *err, size_t errlen);
/* What requests of the chain's own go out through (sc_request). */
typedef struct {
    sc_txn_layer_t *txns;
    sc_tp_set_t    *tps;
    sc_dlg_table_t *dialogs;    /* every live dialog, whatever chain made it */
    sc_resolver_t  *resolver;   /* RFC 3263, for host names */
    /* server.server_header: the Server of our answers and the User-Agent
     * of the requests we originate (NULL: none).  Per chain: the stack
     * given to a chain keeps the chain's own. */
    const char     *agent;
} sc_stack_t;
void sc_chain_set_stack(sc_chain_t *chain, const sc_stack_t *stack);
/* The Server / User-Agent value (NULL: none; default "sipchain/VERSION");
 * the string must outlive the chain. */
void sc_chain_set_agent(sc_chain_t *chain, const char *agent);
/* §16.11: an ACK for a 2xx that is not for us, relayed statelessly to
 * its next Route or Request-URI.  0 when relayed or ours, -1 when it
 * cannot be. */
int  sc_proxy_relay_ack(const sc_stack_t *stack, const sc_msg_t *ack);
/* How long a request may wait for a module before the core answers 500
 * (default 32 s, 64*T1).  Not for a request a module proxied, nor an
 * INVITE it handed to a B2BUA leg: their client transactions' timers
 * (B, F, and timer C once something rings) end those; an INVITE the
 * module rang itself gets 180 s from its last provisional. */
void sc_chain_set_request_timeout(sc_chain_t *chain, unsigned seconds);
/* RFC 4028 for the dialogs its modules make: the interval offered (0:
 * none) and the least accepted (default 1800 s and 90 s). */
void sc_chain_set_session_timers(sc_chain_t *chain, unsigned expires_s, unsigned min_se_s);
void sc_chain_free(sc_chain_t *chain);
/* Requests still in flight (answered asynchronously later), and
 * requests of its own still waiting for their final response. */
unsigned sc_chain_pending(const sc_chain_t *chain);
/* What the stop (SIGTERM) waits for: sc_chain_pending less the proxies
 * and placed requests that, answered, only wait out their transactions'
 * tails. */
unsigned sc_chain_stop_pending(const sc_chain_t *chain);

/* Runs the request of a new server transaction through the chain; src
 * is where it came from.  The request holds the transaction until its
 * final answer, or until the unanswered-request timeout answers 500 for
 * it; answers leave through the transaction.  A CANCEL for it (the
 * transaction's SC_TXN_EV_CANCELLED) is answered 487. */
void sc_chain_run(sc_chain_t *chain, sc_txn_t *txn, const sc_source_t *src);

/* A request or ACK received in a dialog of ours (RFC 3261 §12.2.2):
 * handled by the dialog (true), or no dialog has it (false). */
bool sc_dialog_receive(const sc_stack_t *st, sc_txn_t *txn, const sc_source_t *src);
bool sc_dialog_receive_ack(const sc_stack_t *st, const sc_msg_t *ack, const sc_source_t *src);
/* Dialogs its modules made that are still live. */
unsigned sc_chain_dialogs(const sc_chain_t *chain);
/* A link judges Require itself (sc_instance_take_require): no 420 from
 * the core for this chain's requests. */
bool sc_chain_takes_require(const sc_chain_t *chain);
/* Ends every dialog with a BYE (stop). */
void sc_chain_end_dialogs(sc_chain_t *chain);

/* CANCELs every INVITE the chain forwarded (proxy branches, calls it
 * placed) that has no final answer yet: for stop. */
void sc_chain_cancel_ringing(sc_chain_t *chain);
/* Answers every request still in flight (503) and frees it: for stop. */
void sc_chain_abort_pending(sc_chain_t *chain);

/* Calls the chain's subscribers of event now (the core's own events:
 * "server:reopen" on SIGUSR1). */
void sc_chain_emit(const sc_chain_t *c, const char *event, const void *data);
/* The chain's links as a JSON array of {"link" (position), "name",
 * "module", "version", "methods"} (the status page). */
void sc_chain_describe(const sc_chain_t *c, FILE *f);

/* admin.c: one management call as the process layer hands it over
 * (sc_admin_register); the answer collects in out. */
#define SC_ADMIN_MAX_PARAMS 16
struct sc_admin_call {
    const char *method;
    const char *item;                               /* decoded; "" none */
    const char *params[SC_ADMIN_MAX_PARAMS][2];     /* decoded name, value */
    int         nparams;
    sc_str_t    body;
    unsigned    status;                             /* 0: not answered */
    FILE       *out;                                /* open_memstream of text */
    char       *text;
    size_t      len;
};
/* Opens c's answer stream; -1 out of memory.  sc_admin_call_done closes
 * it (text, len then hold the body, the caller frees text). */
int  sc_admin_call_open(sc_admin_call_t *c);
int  sc_admin_call_done(sc_admin_call_t *c);
/* The link of c's chain that registered resource (the one named link
 * when link is not NULL): its handler in *fn, *arg.  0 found; -1 none;
 * 1 several (err says why, naming them). */
int  sc_chain_admin_find(const sc_chain_t *c, const char *resource, const char *link,
                         sc_instance_t **inst, sc_admin_fn *fn, void **arg, char *err,
                         size_t errlen);
/* The links and their resources as a JSON array. */
void sc_chain_admin_describe(const sc_chain_t *c, FILE *f);
/* The live dialogs of c as JSON objects, each preceded by a comma but
 * the very first (*n counts them over calls). */
void sc_chain_admin_dialogs(sc_chain_t *c, FILE *f, unsigned *n);
/* Ends the dialog of c with that id (BYE; its module hears of it as at
 * stop, and a B2BUA ends the other leg).  false when c has none. */
bool sc_chain_admin_end_dialog(sc_chain_t *c, const char *id);
/* Releases inst's resources (chain end). */
void sc_admin_forget(sc_instance_t *inst);

#endif
