/*
 * server.h — the running process: configuration it was started with, the
 * event loop, listeners, and what happens to each request before any
 * module sees it (DESIGN §6).  The module chain plugs in after the sanity
 * checks; until it exists every request that passes them reaches the end
 * of an empty chain and gets the end-of-chain answer (404).
 */
#ifndef SC_SERVER_H
#define SC_SERVER_H

#include "sc_conf.h"
#include "sc_log.h"
#include "transport.h"
#include "resolver.h"
#include "txn.h"

#define SC_MAX_LISTEN 32
#define SC_MAX_ALIASES 32

typedef struct {
    const char             *file;
    int                     nlisten;
    struct sockaddr_storage listen[SC_MAX_LISTEN];
    socklen_t               listen_len[SC_MAX_LISTEN];
    sc_tp_kind_t            listen_kind[SC_MAX_LISTEN];
    sc_tls_opts_t           listen_tls[SC_MAX_LISTEN];
    char                   *listen_text[SC_MAX_LISTEN];
    const sc_conf_node_t   *listen_node[SC_MAX_LISTEN];
    /* what the listener writes for us instead of its address ("": none) */
    char                    listen_advertise[SC_MAX_LISTEN][SC_ADVERTISE_MAX + 1];
    uint16_t                listen_advertise_port[SC_MAX_LISTEN];   /* 0: its own */
    /* other names and addresses that reach us (DNS names, a NAT's public
     * address): a Route or Request-URI naming one is ours (§16.4) */
    const char             *aliases[SC_MAX_ALIASES + 1];
    sc_log_conf_t           log;
    sc_tp_opts_t            tp;             /* limits, TCP idle and cap */
    unsigned                default_status;     /* end of chain */
    const char             *server_header;      /* Server / User-Agent value; NULL: none */
    const char             *modules_path;       /* directories separated by ':' */
    char                   *modules_dirs;       /* modules_path's storage for a list */
    unsigned                request_timeout_s;  /* a module's time to answer */
    unsigned                stop_timeout_s;     /* SIGTERM: time for requests in flight */
    unsigned                session_expires_s;  /* RFC 4028 interval offered (0: none) */
    unsigned                min_se_s;           /* the least accepted */
    sc_txn_conf_t           txn;                /* timers T1 T2 T4, max_transactions */
    sc_dns_conf_t           dns;                /* name servers, hosts file, timeouts */
    char                    hosts_file[256];
    bool                    metrics;            /* server.metrics: the HTTP endpoint */
    struct sockaddr_storage metrics_addr;
    socklen_t               metrics_len;
    char                    metrics_text[96];
    bool                    admin;              /* server.admin: the management API */
    struct sockaddr_storage admin_addr;         /* TCP, or AF_UNIX */
    socklen_t               admin_len;
    char                    admin_text[128];    /* as configured */
    const char             *admin_token;        /* bearer token; NULL: none */
    char                    admin_token_buf[256];   /* token_file's */
    sc_conf_node_t         *tree;
} sc_server_conf_t;

/* Reads and validates the whole file; on error returns -1 with
 * "file:line:col: message" in err.  Frees nothing on error but the tree. */
int  sc_server_conf_read(const char *path, sc_server_conf_t *conf, char *err, size_t errlen);
void sc_server_conf_free(sc_server_conf_t *conf);

/* A warning about a valid configuration (a wildcard listener that can
 * only name itself by a loopback address): 1 with "file:line:col: ..."
 * in out, or 0. */
int  sc_server_conf_warning(const sc_server_conf_t *conf, char *out, size_t cap);

/* Loads and creates every module of the chain, then releases them: the
 * module half of validating a configuration (-t).  0 or -1 with err. */
int  sc_server_conf_check_chain(const sc_server_conf_t *conf, char *err, size_t errlen);

/* Reads file, starts, runs until SIGTERM or SIGINT, reloads file on
 * SIGHUP; returns the exit status. */
int  sc_server_run(const char *file);

#endif
