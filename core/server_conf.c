/* server_conf.c — the core's own configuration keys (DESIGN §5). */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <ifaddrs.h>

#include "app.h"
#include "sc_auto_config.h"
#include "sc_log.h"

/* A listen entry is "KIND:HOST:PORT", or for TLS a mapping:
 *   { url: "tls:HOST:PORT", cert: FILE, key: FILE, ca: FILE, verify_client: BOOL,
 *     server_ca: FILE, verify_server: BOOL } */
static int read_tls(const sc_conf_node_t *e, sc_tls_opts_t *t, char *err, size_t errlen)
{
    static const char *const keys[] = { "url", "cert", "key", "ca", "verify_client",
                                        "server_ca", "verify_server", "advertise", NULL };
    if (sc_conf_known_keys(e, keys, err, errlen))
        return -1;
    const sc_conf_node_t *k;
    if ((k = sc_conf_get(e, "cert")) == NULL)
        return sc_conf_error(err, errlen, e, "a tls listener needs \"cert\"");
    if (sc_conf_string(k, &t->cert, err, errlen))
        return -1;
    if ((k = sc_conf_get(e, "key")) == NULL)
        return sc_conf_error(err, errlen, e, "a tls listener needs \"key\"");
    if (sc_conf_string(k, &t->key, err, errlen))
        return -1;
    if ((k = sc_conf_get(e, "ca")) && sc_conf_string(k, &t->ca, err, errlen))
        return -1;
    if ((k = sc_conf_get(e, "verify_client"))) {
        if (sc_conf_bool(k, &t->verify_client, err, errlen))
            return -1;
        if (t->verify_client && t->ca == NULL)
            return sc_conf_error(err, errlen, k, "verify_client needs \"ca\"");
    }
    if ((k = sc_conf_get(e, "server_ca")) && sc_conf_string(k, &t->server_ca, err, errlen))
        return -1;
    if ((k = sc_conf_get(e, "verify_server"))) {
        bool v;
        if (sc_conf_bool(k, &v, err, errlen))
            return -1;
        t->no_verify_server = !v;
    }
    char why[512];
    if (sc_tls_check(t, why, sizeof(why)) != 0)     /* files read now, not at start */
        return sc_conf_error(err, errlen, e, "%s", why);
    return 0;
}

/* A listener's advertise: "HOST" or "HOST:PORT", HOST a name, an IPv4
 * address or an [IPv6] reference: what we write for ourselves (Via,
 * Record-Route, Contact) instead of the local address. */
static int read_advertise(const sc_conf_node_t *n, sc_server_conf_t *c, int i, char *err,
                          size_t errlen)
{
    const char *a;
    if (sc_conf_string(n, &a, err, errlen))
        return -1;
    sc_uri_t u;
    char uri[300];
    snprintf(uri, sizeof(uri), "sip:%s", a);
    if (*a == '\0' || strlen(a) > 255 || strpbrk(a, ";?<>@ \t") ||
        sc_uri_parse(&u, sc_str_cstr(uri)) != NULL)
        return sc_conf_error(err, errlen, n, "advertise \"%s\" is not a host or host:port "
                             "(an IPv6 address is written [ADDR])", a);
    size_t hl = u.host.len;
    if (hl > SC_ADVERTISE_MAX)
        return sc_conf_error(err, errlen, n, "advertise \"%s\": the host is at most %d characters",
                             a, SC_ADVERTISE_MAX);
    memcpy(c->listen_advertise[i], u.host.s, hl);
    c->listen_advertise[i][hl] = '\0';
    c->listen_advertise_port[i] = u.port;
    return 0;
}

/* Does the host have an address of the family to name itself by (not a
 * loopback, not an IPv6 link-local one)?  A wildcard listener without
 * one and without advertise can only write a loopback address. */
static bool host_has_address(int family)
{
    struct ifaddrs *list, *i;
    bool found = false;
    if (getifaddrs(&list) != 0)
        return true;                    /* cannot tell: say nothing */
    for (i = list; i && !found; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family)
            continue;
        if (family == AF_INET)
            found = (ntohl(((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr) >> 24) != 127;
        else {
            const struct in6_addr *a = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
            found = !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a);
        }
    }
    freeifaddrs(list);
    return found;
}

int sc_server_conf_warning(const sc_server_conf_t *c, char *out, size_t cap)
{
    for (int i = 0; i < c->nlisten; i++) {
        const struct sockaddr *a = (const struct sockaddr *)&c->listen[i];
        if (!sc_addr_is_wildcard(a) || c->listen_advertise[i][0] || host_has_address(a->sa_family))
            continue;
        const sc_conf_node_t *n = c->listen_node[i];
        snprintf(out, cap, "%s:%u:%u: listen \"%s\": a wildcard listener and this host has no %s "
                 "address but loopback to name itself by: give it \"advertise\"",
                 c->file, n ? n->line : 0, n ? n->col : 0, c->listen_text[i],
                 a->sa_family == AF_INET6 ? "IPv6" : "IPv4");
        return 1;
    }
    return 0;
}

static int read_listen(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    if (n->kind != SC_CONF_SEQ)
        return sc_conf_error(err, errlen, n, "\"listen\" must be a list of addresses");
    for (sc_conf_node_t *e = n->children; e; e = e->next) {
        const sc_conf_node_t *urlnode = e;
        if (e->kind == SC_CONF_MAP) {
            urlnode = sc_conf_get(e, "url");
            if (urlnode == NULL)
                return sc_conf_error(err, errlen, e, "listen entry needs \"url\"");
        }
        if (urlnode->kind != SC_CONF_SCALAR)
            return sc_conf_error(err, errlen, e, "listen entry must be a string like udp:127.0.0.1:5060");
        const char *text = urlnode->value;
        if (c->nlisten == SC_MAX_LISTEN)
            return sc_conf_error(err, errlen, e, "too many listeners (at most %d)", SC_MAX_LISTEN);
        int i = c->nlisten;
        const char *bad = sc_listen_parse(text, &c->listen_kind[i], &c->listen[i], &c->listen_len[i]);
        if (bad)
            return sc_conf_error(err, errlen, urlnode, "listen \"%s\": %s", text, bad);
        /* one socket per address: a repeated entry would have to be two
         * listeners on one port, or one listener owned twice */
        for (int j = 0; j < i; j++)
            if (c->listen_kind[j] == c->listen_kind[i] && c->listen_len[j] == c->listen_len[i] &&
                memcmp(&c->listen[j], &c->listen[i], c->listen_len[i]) == 0)
                return sc_conf_error(err, errlen, urlnode, "listen \"%s\" is given twice", text);
        if (c->listen_kind[i] == SC_TP_TLS) {
            if (e->kind != SC_CONF_MAP)
                return sc_conf_error(err, errlen, e, "listen \"%s\": a tls listener is a mapping "
                                     "with url, cert and key", text);
            if (read_tls(e, &c->listen_tls[i], err, errlen))
                return -1;
        } else if (e->kind == SC_CONF_MAP) {
            static const char *const keys[] = { "url", "advertise", NULL };
            if (sc_conf_known_keys(e, keys, err, errlen))
                return -1;
        }
        const sc_conf_node_t *adv = e->kind == SC_CONF_MAP ? sc_conf_get(e, "advertise") : NULL;
        if (adv && read_advertise(adv, c, i, err, errlen))
            return -1;
        c->listen_node[i] = urlnode;
        c->listen_text[c->nlisten++] = urlnode->value;
    }
    if (c->nlisten == 0)
        return sc_conf_error(err, errlen, n, "\"listen\" needs at least one address");
    return 0;
}

/* RFC 3261 §17.1.1.1 timer bases, in milliseconds: T1 may be lowered
 * on a known fast network (never below 1), T2 and T4 follow. */
static int read_timers(const sc_conf_node_t *n, sc_txn_conf_t *t, char *err, size_t errlen)
{
    static const char *const keys[] = { "t1", "t2", "t4", NULL };
    if (n == NULL)
        return 0;
    if (n->kind != SC_CONF_MAP)
        return sc_conf_error(err, errlen, n, "\"timers\" must be a mapping");
    if (sc_conf_known_keys(n, keys, err, errlen))
        return -1;
    unsigned *at[] = { &t->t1_ms, &t->t2_ms, &t->t4_ms };
    for (int i = 0; i < 3; i++) {
        const sc_conf_node_t *k = sc_conf_get(n, keys[i]);
        unsigned long v;
        if (k == NULL)
            continue;
        if (sc_conf_uint(k, 600000, &v, err, errlen))
            return -1;
        if (v == 0)
            return sc_conf_error(err, errlen, k, "\"%s\" must be at least 1 ms", keys[i]);
        *at[i] = (unsigned)v;
    }
    if (t->t2_ms < t->t1_ms)
        return sc_conf_error(err, errlen, n, "\"t2\" must not be less than \"t1\"");
    return 0;
}

/* RFC 4028: the interval we offer on calls we place and answer (0: no
 * session timer of ours), and the least we accept. */
static int read_session_timers(const sc_conf_node_t *n, sc_server_conf_t *c, char *err,
                               size_t errlen)
{
    static const char *const keys[] = { "expires", "min_se", NULL };
    unsigned long v;
    if (n == NULL)
        return 0;
    if (n->kind != SC_CONF_MAP)
        return sc_conf_error(err, errlen, n, "\"session_timers\" must be a mapping");
    if (sc_conf_known_keys(n, keys, err, errlen))
        return -1;
    const sc_conf_node_t *e = sc_conf_get(n, "expires"), *m = sc_conf_get(n, "min_se");
    if (m) {
        if (sc_conf_uint(m, 86400, &v, err, errlen))
            return -1;
        if (v == 0)
            return sc_conf_error(err, errlen, m, "\"min_se\" must be at least 1 second");
        c->min_se_s = (unsigned)v;
    }
    if (e) {
        if (sc_conf_uint(e, 86400, &v, err, errlen))
            return -1;
        if (v && v < c->min_se_s)
            return sc_conf_error(err, errlen, e, "\"expires\" must be 0 (off) or at least min_se (%u)",
                                 c->min_se_s);
        c->session_expires_s = (unsigned)v;
    }
    return 0;
}

/* RFC 3263 resolution: servers "IP[:PORT]" or "[IPv6]:PORT" (default
 * those of /etc/resolv.conf), the hosts file, a per-query timeout (ms)
 * and rounds of attempts; the cache of answers (entries, 0: none) and
 * its TTLs (s). */
static int read_dns(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    static const char *const keys[] = { "servers", "hosts_file", "timeout", "attempts",
                                        "cache_size", "negative_ttl", "max_ttl", NULL };
    unsigned long v;
    const char *s;
    if (n == NULL)
        return 0;
    if (n->kind != SC_CONF_MAP)
        return sc_conf_error(err, errlen, n, "\"dns\" must be a mapping");
    if (sc_conf_known_keys(n, keys, err, errlen))
        return -1;
    const sc_conf_node_t *k = sc_conf_get(n, "servers");
    if (k && k->kind != SC_CONF_SEQ)
        return sc_conf_error(err, errlen, k, "\"servers\" must be a list of addresses");
    for (const sc_conf_node_t *e = k ? k->children : NULL; e; e = e->next) {
        char text[128];
        sc_tp_kind_t kind;
        if (sc_conf_string(e, &s, err, errlen))
            return -1;
        if (c->dns.nservers == SC_DNS_MAX_SERVERS)
            return sc_conf_error(err, errlen, e, "at most %d name servers", SC_DNS_MAX_SERVERS);
        bool port = strrchr(s, ':') && (s[0] == '[' ? strstr(s, "]:") != NULL : strchr(s, ':') == strrchr(s, ':'));
        snprintf(text, sizeof(text), "udp:%s%s", s, port ? "" : ":53");
        const char *bad = sc_listen_parse(text, &kind, &c->dns.servers[c->dns.nservers],
                                          &c->dns.server_len[c->dns.nservers]);
        if (bad)
            return sc_conf_error(err, errlen, e, "name server \"%s\": %s", s, bad);
        c->dns.nservers++;
    }
    if ((k = sc_conf_get(n, "hosts_file"))) {
        if (sc_conf_string(k, &s, err, errlen))
            return -1;
        snprintf(c->hosts_file, sizeof(c->hosts_file), "%s", s);
        c->dns.hosts_file = c->hosts_file;
    }
    if ((k = sc_conf_get(n, "timeout"))) {
        if (sc_conf_uint(k, 60000, &v, err, errlen))
            return -1;
        if (v == 0)
            return sc_conf_error(err, errlen, k, "\"timeout\" must be at least 1 ms");
        c->dns.timeout_ms = (unsigned)v;
    }
    if ((k = sc_conf_get(n, "attempts"))) {
        if (sc_conf_uint(k, 10, &v, err, errlen))
            return -1;
        if (v == 0)
            return sc_conf_error(err, errlen, k, "\"attempts\" must be at least 1");
        c->dns.attempts = (unsigned)v;
    }
    if ((k = sc_conf_get(n, "cache_size"))) {
        if (sc_conf_uint(k, 1000000, &v, err, errlen))
            return -1;
        c->dns.cache_size = v ? (int)v : -1;      /* 0: no cache */
    }
    if ((k = sc_conf_get(n, "negative_ttl"))) {
        if (sc_conf_uint(k, 86400, &v, err, errlen))
            return -1;
        if (v == 0)
            return sc_conf_error(err, errlen, k, "\"negative_ttl\" must be at least 1 s (cache_size: 0 turns the cache off)");
        c->dns.negative_ttl = (unsigned)v;
    }
    if ((k = sc_conf_get(n, "max_ttl"))) {
        if (sc_conf_uint(k, 7 * 86400, &v, err, errlen))
            return -1;
        if (v == 0)
            return sc_conf_error(err, errlen, k, "\"max_ttl\" must be at least 1 s (cache_size: 0 turns the cache off)");
        c->dns.max_ttl = (unsigned)v;
    }
    return 0;
}

/* server.metrics: { listen: "host:port" } (default 127.0.0.1:9090, TCP) */
static int read_metrics(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    static const char *const keys[] = { "listen", NULL };
    if (n == NULL)
        return 0;
    if (n->kind != SC_CONF_MAP)
        return sc_conf_error(err, errlen, n, "\"metrics\" must be a mapping (listen: \"127.0.0.1:9090\")");
    if (sc_conf_known_keys(n, keys, err, errlen))
        return -1;
    const char *s = "127.0.0.1:9090";
    const sc_conf_node_t *k = sc_conf_get(n, "listen");
    if (k && sc_conf_string(k, &s, err, errlen))
        return -1;
    char text[128];
    sc_tp_kind_t kind;
    snprintf(text, sizeof(text), "tcp:%s", s);
    const char *bad = sc_listen_parse(text, &kind, &c->metrics_addr, &c->metrics_len);
    if (bad)
        return sc_conf_error(err, errlen, k ? k : n, "metrics listen \"%s\": %s", s, bad);
    snprintf(c->metrics_text, sizeof(c->metrics_text), "%s", s);
    c->metrics = true;
    return 0;
}

/* A loopback address: nobody else reaches it. */
static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
    return false;
}

/* server.admin: { listen: "127.0.0.1:9091" | "unix:/run/sipchain/admin.sock",
 * token: "..." }.  The management API changes what the server does (ends
 * calls, deletes registrations, reloads), so on an address others can
 * reach it takes a bearer token: without one the configuration is refused
 * rather than warned about, as a warning in a log nobody reads would leave
 * the calls of the whole server to anyone on the network.  On loopback
 * or a unix socket (whose file mode decides) the token is optional. */
static int read_admin(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    static const char *const keys[] = { "listen", "token", "token_file", NULL };
    if (n == NULL)
        return 0;
    if (n->kind != SC_CONF_MAP)
        return sc_conf_error(err, errlen, n, "\"admin\" must be a mapping (listen: \"127.0.0.1:9091\")");
    if (sc_conf_known_keys(n, keys, err, errlen))
        return -1;
    const char *s = "127.0.0.1:9091";
    const sc_conf_node_t *k = sc_conf_get(n, "listen"), *t = sc_conf_get(n, "token"),
                         *tf = sc_conf_get(n, "token_file");
    if (k && sc_conf_string(k, &s, err, errlen))
        return -1;
    if (t && tf)
        return sc_conf_error(err, errlen, tf, "admin: \"token\" or \"token_file\", not both");
    if (tf) {
        /* the token apart from the configuration, which may be readable
         * by more people than should manage the server: its first line */
        const char *path;
        if (sc_conf_string(tf, &path, err, errlen))
            return -1;
        FILE *f = fopen(path, "r");
        if (f == NULL)
            return sc_conf_error(err, errlen, tf, "admin token_file %s: %s", path, strerror(errno));
        char *line = fgets(c->admin_token_buf, sizeof(c->admin_token_buf), f);
        fclose(f);
        if (line == NULL)
            return sc_conf_error(err, errlen, tf, "admin token_file %s is empty", path);
        c->admin_token_buf[strcspn(c->admin_token_buf, "\r\n")] = '\0';
        c->admin_token = c->admin_token_buf;
        t = tf;
    }
    if (t) {
        if (t != tf && sc_conf_string(t, &c->admin_token, err, errlen))
            return -1;
        if (strlen(c->admin_token) < 16)
            return sc_conf_error(err, errlen, t, "admin token: at least 16 characters");
        for (const char *p = c->admin_token; *p; p++)
            if (*p <= ' ' || *p > '~')
                return sc_conf_error(err, errlen, t, "admin token: printable characters only, no blanks");
    }
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&c->admin_addr;
        if (s[5] != '/' || strlen(s + 5) >= sizeof(un->sun_path))
            return sc_conf_error(err, errlen, k, "admin listen \"%s\": unix: takes an absolute path "
                                 "shorter than %zu", s, sizeof(un->sun_path));
        memset(un, 0, sizeof(*un));
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, s + 5);
        c->admin_len = (socklen_t)sizeof(*un);
    } else {
        char text[160];
        sc_tp_kind_t kind;
        snprintf(text, sizeof(text), "tcp:%s", s);
        const char *bad = sc_listen_parse(text, &kind, &c->admin_addr, &c->admin_len);
        if (bad)
            return sc_conf_error(err, errlen, k ? k : n, "admin listen \"%s\": %s", s, bad);
        if (!is_loopback(&c->admin_addr) && c->admin_token == NULL)
            return sc_conf_error(err, errlen, k, "admin listen \"%s\" is reachable from other hosts: "
                                 "set admin.token (a bearer token) or listen on loopback or unix:", s);
    }
    snprintf(c->admin_text, sizeof(c->admin_text), "%s", s);
    c->admin = true;
    return 0;
}

/* server.aliases: [ "sip.example.com", "203.0.113.7:5060", "[2001:db8::7]" ]
 * — a host, optionally with a port (without one: any port we listen on). */
static int read_aliases(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    if (n == NULL)
        return 0;
    if (n->kind != SC_CONF_SEQ)
        return sc_conf_error(err, errlen, n, "\"aliases\" must be a list of host or host:port");
    int k = 0;
    for (const sc_conf_node_t *x = sc_conf_first(n); x; x = sc_conf_next(x)) {
        const char *a;
        if (k == SC_MAX_ALIASES)
            return sc_conf_error(err, errlen, x, "at most %d aliases", SC_MAX_ALIASES);
        if (sc_conf_string(x, &a, err, errlen))
            return -1;
        sc_uri_t u;
        char uri[300];
        snprintf(uri, sizeof(uri), "sip:%s", a);
        if (*a == '\0' || strlen(a) > 255 || strpbrk(a, ";?<>@ \t") ||
            sc_uri_parse(&u, sc_str_cstr(uri)) != NULL)
            return sc_conf_error(err, errlen, x, "alias \"%s\" is not a host or host:port", a);
        c->aliases[k++] = a;
    }
    c->aliases[k] = NULL;
    return 0;
}

/* server_header: "TEXT" is the Server of our answers and the User-Agent
 * of the requests we originate; "" or false leaves both out, true is the
 * default (sipchain/VERSION). */
static int read_server_header(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    if (n == NULL)
        return 0;
    bool on;
    char scratch[8];
    if (sc_conf_bool(n, &on, scratch, sizeof(scratch)) == 0) {
        c->server_header = on ? "sipchain/" SC_VERSION : NULL;
        return 0;
    }
    const char *v;
    if (sc_conf_string(n, &v, err, errlen))
        return -1;
    if (strlen(v) > 256)
        return sc_conf_error(err, errlen, n, "\"server_header\" is at most 256 characters");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return sc_conf_error(err, errlen, n, "\"server_header\" must not hold control characters");
    if (v[0] == ' ' || v[0] == '\t')
        return sc_conf_error(err, errlen, n, "\"server_header\" must not start with a blank");
    c->server_header = *v ? v : NULL;
    return 0;
}

static int read_server(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    static const char *const keys[] = { "listen", "aliases", "log", "limits", "timers",
                                        "default_status", "session_timers", "dns", "metrics",
                                        "admin", "server_header", "udp_mtu", NULL };
    static const char *const log_keys[] = { "level", "target", "file", "format", "sip_trace", NULL };
    static const char *const limit_keys[] = { "max_message_size", "max_headers", "max_line",
                                              "idle_timeout", "max_connections",
                                              "max_connections_per_source", "message_timeout",
                                              "tls_handshake_timeout",
                                              "request_timeout", "stop_timeout",
                                              "max_transactions", NULL };
    unsigned long v;
    if (n->kind != SC_CONF_MAP)
        return sc_conf_error(err, errlen, n, "\"server\" must be a mapping");
    if (sc_conf_known_keys(n, keys, err, errlen))
        return -1;
    const sc_conf_node_t *l = sc_conf_get(n, "listen");
    if (l == NULL)
        return sc_conf_error(err, errlen, n, "\"server\" needs \"listen\"");
    if (read_listen(l, c, err, errlen))
        return -1;
    if (read_aliases(sc_conf_get(n, "aliases"), c, err, errlen))
        return -1;
    const sc_conf_node_t *mtu = sc_conf_get(n, "udp_mtu");
    if (mtu) {
        /* drachtio-server refuses less than 1000; a test wants small */
        if (sc_conf_uint(mtu, 65535, &v, err, errlen))
            return -1;
        if (v < 200)
            return sc_conf_error(err, errlen, mtu, "\"udp_mtu\" must be 200-65535 octets");
        c->tp.udp_mtu = (unsigned)v;
    }
    const sc_conf_node_t *log = sc_conf_get(n, "log");
    if (log) {
        if (log->kind != SC_CONF_MAP)
            return sc_conf_error(err, errlen, log, "\"log\" must be a mapping");
        if (sc_conf_known_keys(log, log_keys, err, errlen))
            return -1;
        const sc_conf_node_t *k;
        const char *s;
        if ((k = sc_conf_get(log, "level"))) {
            int lv;
            if (sc_conf_string(k, &s, err, errlen))
                return -1;
            if ((lv = sc_log_level_parse(s)) < 0)
                return sc_conf_error(err, errlen, k, "\"level\" must be error, warn, info or debug");
            c->log.level = (sc_log_level_t)lv;
        }
        if ((k = sc_conf_get(log, "target"))) {
            if (sc_conf_string(k, &s, err, errlen))
                return -1;
            if (strcmp(s, "stderr") == 0)
                c->log.target = SC_LOG_TO_STDERR;
            else if (strcmp(s, "file") == 0)
                c->log.target = SC_LOG_TO_FILE;
            else if (strcmp(s, "syslog") == 0)
                c->log.target = SC_LOG_TO_SYSLOG;
            else
                return sc_conf_error(err, errlen, k, "\"target\" must be stderr, file or syslog");
        }
        const sc_conf_node_t *f = sc_conf_get(log, "file");
        if (f && sc_conf_string(f, &c->log.file, err, errlen))
            return -1;
        if (c->log.target == SC_LOG_TO_FILE && f == NULL)
            return sc_conf_error(err, errlen, log, "target: file needs \"file\"");
        if (f && c->log.target != SC_LOG_TO_FILE)
            return sc_conf_error(err, errlen, f, "\"file\" is only for target: file");
        if ((k = sc_conf_get(log, "format"))) {
            if (sc_conf_string(k, &s, err, errlen))
                return -1;
            if (strcmp(s, "json") != 0 && strcmp(s, "text") != 0)
                return sc_conf_error(err, errlen, k, "\"format\" must be text or json");
            c->log.json = strcmp(s, "json") == 0;
        }
        if ((k = sc_conf_get(log, "sip_trace")) && sc_conf_bool(k, &c->log.sip_trace, err, errlen))
            return -1;
    }
    const sc_conf_node_t *lim = sc_conf_get(n, "limits");
    if (lim) {
        if (lim->kind != SC_CONF_MAP)
            return sc_conf_error(err, errlen, lim, "\"limits\" must be a mapping");
        if (sc_conf_known_keys(lim, limit_keys, err, errlen))
            return -1;
        /* key, upper bound, where it goes */
        static const struct {
            const char *key;
            unsigned long max;
            size_t off;
            bool is_size;
        } limits[] = {
            { "max_message_size", 65535, offsetof(sc_tp_opts_t, limits.max_size), true },
            { "max_headers", 10000, offsetof(sc_tp_opts_t, limits.max_headers), true },
            { "max_line", 65535, offsetof(sc_tp_opts_t, limits.max_line), true },
            { "idle_timeout", 86400, offsetof(sc_tp_opts_t, idle_timeout_s), false },
            { "max_connections", 1000000, offsetof(sc_tp_opts_t, max_connections), false },
            { "max_connections_per_source", 1000000, offsetof(sc_tp_opts_t, max_per_source), false },
            { "message_timeout", 3600, offsetof(sc_tp_opts_t, message_timeout_s), false },
            { "tls_handshake_timeout", 3600, offsetof(sc_tp_opts_t, tls_handshake_timeout_s), false },
        };
        const sc_conf_node_t *mt = sc_conf_get(lim, "max_transactions");
        if (mt) {
            if (sc_conf_uint(mt, 10000000, &v, err, errlen))
                return -1;
            c->txn.max_txns = (unsigned)v;
        }
        const sc_conf_node_t *st = sc_conf_get(lim, "stop_timeout");
        if (st) {
            if (sc_conf_uint(st, 3600, &v, err, errlen))
                return -1;
            c->stop_timeout_s = (unsigned)v;
        }
        const sc_conf_node_t *rt = sc_conf_get(lim, "request_timeout");
        if (rt) {
            if (sc_conf_uint(rt, 3600, &v, err, errlen))
                return -1;
            if (v == 0)
                return sc_conf_error(err, errlen, rt, "\"request_timeout\" must be at least 1 second");
            c->request_timeout_s = (unsigned)v;
        }
        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
            const sc_conf_node_t *k = sc_conf_get(lim, limits[i].key);
            if (k == NULL)
                continue;
            if (sc_conf_uint(k, limits[i].max, &v, err, errlen))
                return -1;
            char *at = (char *)&c->tp + limits[i].off;
            if (limits[i].is_size)
                *(size_t *)at = v;
            else
                *(unsigned *)at = (unsigned)v;
        }
    }
    if (read_timers(sc_conf_get(n, "timers"), &c->txn, err, errlen) ||
        read_session_timers(sc_conf_get(n, "session_timers"), c, err, errlen) ||
        read_dns(sc_conf_get(n, "dns"), c, err, errlen) ||
        read_metrics(sc_conf_get(n, "metrics"), c, err, errlen) ||
        read_admin(sc_conf_get(n, "admin"), c, err, errlen))
        return -1;
    const sc_conf_node_t *d = sc_conf_get(n, "default_status");
    if (d) {
        if (sc_conf_uint(d, 699, &v, err, errlen))
            return -1;
        if (v < 300)
            return sc_conf_error(err, errlen, d, "\"default_status\" must be a final error status 300-699");
        c->default_status = (unsigned)v;
    }
    return read_server_header(sc_conf_get(n, "server_header"), c, err, errlen);
}

/* modules_path: one directory, or a list searched in order (the first
 * holding NAME.so wins), kept as one ':'-separated string for the loader. */
static int read_modules_path(const sc_conf_node_t *n, sc_server_conf_t *c, char *err, size_t errlen)
{
    if (n == NULL)
        return 0;
    if (n->kind == SC_CONF_SCALAR)
        return sc_conf_string(n, &c->modules_path, err, errlen);
    if (n->kind != SC_CONF_SEQ || n->children == NULL)
        return sc_conf_error(err, errlen, n, "\"modules_path\" must be a directory or a list of directories");
    size_t len = 0;
    for (const sc_conf_node_t *d = n->children; d; d = d->next) {
        const char *dir;
        if (sc_conf_string(d, &dir, err, errlen))
            return -1;
        if (*dir == '\0' || strchr(dir, ':'))
            return sc_conf_error(err, errlen, d, "a modules_path directory must be a non-empty path without ':'");
        len += strlen(dir) + 1;
    }
    if ((c->modules_dirs = malloc(len)) == NULL)
        return sc_conf_error(err, errlen, n, "out of memory");
    size_t at = 0;
    for (const sc_conf_node_t *d = n->children; d; d = d->next)
        at += (size_t)sprintf(c->modules_dirs + at, "%s%s", at ? ":" : "", d->value);
    c->modules_path = c->modules_dirs;
    return 0;
}

int sc_server_conf_read(const char *path, sc_server_conf_t *c, char *err, size_t errlen)
{
    static const char *const keys[] = { "server", "modules_path", "chain", NULL };
    memset(c, 0, sizeof(*c));
    c->file = path;
    c->log.level = SC_LOG_INFO;
    c->tp.limits = sc_parse_limits_default;
    c->tp.idle_timeout_s = 300;     /* a NATed phone's keep-alives come more often */
    c->tp.max_connections = 4096;
    /* no hoarding (transport_tcp.c): one address holds at most this
     * many; a message completes, a TLS handshake ends, within so many s */
    c->tp.max_per_source = 256;
    c->tp.message_timeout_s = 30;
    c->tp.tls_handshake_timeout_s = 10;
    c->default_status = 404;
    c->server_header = "sipchain/" SC_VERSION;
    c->modules_path = SC_MODULES_PATH;
    c->request_timeout_s = 32;
    c->stop_timeout_s = 5;
    c->session_expires_s = 1800;    /* RFC 4028 §4 recommends 1800 s */
    c->min_se_s = 90;
    c->txn = sc_txn_conf_default;
    c->tree = sc_conf_load(path, err, errlen);
    if (c->tree == NULL)
        return -1;
    if (sc_conf_known_keys(c->tree, keys, err, errlen))
        goto fail;
    const sc_conf_node_t *s = sc_conf_get(c->tree, "server");
    if (s == NULL) {
        sc_conf_error(err, errlen, c->tree, "missing \"server\" section");
        goto fail;
    }
    if (read_server(s, c, err, errlen))
        goto fail;
    if (read_modules_path(sc_conf_get(c->tree, "modules_path"), c, err, errlen))
        goto fail;
    /* the chain itself is checked by loading it: sc_server_conf_check_chain */
    return 0;
fail:
    sc_server_conf_free(c);
    return -1;
}

void sc_server_conf_free(sc_server_conf_t *c)
{
    sc_conf_free(c->tree);
    c->tree = NULL;
    free(c->modules_dirs);
    c->modules_dirs = NULL;
}

int sc_server_conf_check_chain(const sc_server_conf_t *c, char *err, size_t errlen)
{
    struct event_base *base = event_base_new();
    if (base == NULL) {
        snprintf(err, errlen, "cannot create an event loop");
        return -1;
    }
    sc_chain_t *chain = sc_chain_check(sc_conf_get(c->tree, "chain"), c->modules_path, base,
                                       c->default_status, err, errlen);
    sc_chain_free(chain);
    event_base_free(base);
    return chain ? 0 : -1;
}
