/*
 * sipchainctl — the command-line client of sipchain's management API
 * (server.admin).  One HTTP/1.0 request per run over TCP or a unix
 * socket, blocking, with a time limit: a tool for a shell, not a loop.
 * It needs nothing but libc, so that it works where only the server's
 * package is installed.
 *
 * Exit status: 0 the server did it (2xx); 1 the server refused (its
 * {"error"} on stderr); 2 usage; 3 no answer (cannot connect, timeout,
 * not HTTP).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1:9091"
#define TIMEOUT_MS   10000
#define MAX_ANSWER   (16 * 1024 * 1024)

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_NO_ANSWER = 3 };

static const char USAGE[] =
    "usage: sipchainctl [-s ADDR] [-t TOKEN] [-l LINK] [--json] COMMAND\n"
    "  -s ADDR     host:port or unix:/path of server.admin (default $SIPCHAIN_ADMIN,\n"
    "              else " DEFAULT_ADDR ")\n"
    "  -t TOKEN    the bearer token (default $SIPCHAIN_ADMIN_TOKEN)\n"
    "  -l LINK     the chain link to ask when several have the resource\n"
    "  --json      print the server's JSON as it came (default: indented)\n"
    "commands:\n"
    "  resources                 what the server and each link offer\n"
    "  reg list | show AOR | del AOR\n"
    "  calls list | end ID       b2bua calls (both legs)\n"
    "  dialogs list | end ID     every dialog, whichever link made it\n"
    "  blocks list | lift NAME\n"
    "  txn                       transactions in flight\n"
    "  stats                     counters and the metrics\n"
    "  reload\n"
    "  log-level [LEVEL]         show, or set error|warn|info|debug\n"
    "  raw METHOD PATH [BODY]    any resource, e.g. raw GET /v1/registrations\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "sipchainctl: %s\n", why);
    fputs(USAGE, stderr);
    return EXIT_USAGE;
}

/* --- the connection ------------------------------------------------------ */

static long left_ms(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static bool wait_for(int fd, short ev, const struct timespec *deadline)
{
    long ms = left_ms(deadline);
    struct pollfd p = {fd, ev, 0};
    return ms > 0 && poll(&p, 1, (int)ms) == 1;
}

/* A connected socket to addr ("unix:/path" or "host:port", "[v6]:port"),
 * or -1 with the reason printed. */
static int connect_to(const char *addr, const struct timespec *deadline)
{
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (strlen(addr + 5) >= sizeof(un.sun_path)) {
            fprintf(stderr, "sipchainctl: %s: path too long\n", addr);
            return -1;
        }
        strcpy(un.sun_path, addr + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) != 0) {
            fprintf(stderr, "sipchainctl: cannot connect to %s: %s\n", addr, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
    char host[256], *port;
    snprintf(host, sizeof(host), "%s", addr);
    char *h = host;
    if (h[0] == '[') {
        char *e = strchr(h, ']');
        if (e == NULL || e[1] != ':') {
            fprintf(stderr, "sipchainctl: %s: not [v6]:port\n", addr);
            return -1;
        }
        *e = '\0';
        h++;
        port = e + 2;
    } else if ((port = strrchr(h, ':')) != NULL) {
        *port++ = '\0';
    } else {
        fprintf(stderr, "sipchainctl: %s: not host:port or unix:/path\n", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
    int rc = getaddrinfo(h, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "sipchainctl: %s: %s\n", addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline))) {
            int e = 0;
            socklen_t el = sizeof(e);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
            if (e == 0)
                break;
            errno = e;
        }
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        fprintf(stderr, "sipchainctl: cannot connect to %s: %s\n", addr,
                errno ? strerror(errno) : "timeout");
    freeaddrinfo(ai);
    return fd;
}

static bool send_all(int fd, const char *p, size_t n, const struct timespec *deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLOUT, deadline))
                return false;
            continue;
        }
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* The whole answer (HTTP/1.0: until the server closes); NULL on error. */
static char *read_all(int fd, size_t *len, const struct timespec *deadline)
{
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *nb = cap < MAX_ANSWER ? realloc(buf, cap * 2 + 1) : NULL;
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLIN, deadline))
                break;
            continue;
        }
        if (r < 0)
            break;
        n += (size_t)r;
    }
    free(buf);
    return NULL;
}

/* --- output --------------------------------------------------------------- */

/* JSON indented two spaces a level, for a person; strings kept as sent. */
static void pretty(const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            putchar(c);
            if (c == '\\' && i + 1 < n)
                putchar(s[++i]);
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            putchar(c);
            break;
        case '{':
        case '[':
            putchar(c);
            if (i + 1 < n && (s[i + 1] == '}' || s[i + 1] == ']')) {
                putchar(s[++i]);
                break;
            }
            printf("\n%*s", 2 * ++depth, "");
            break;
        case '}':
        case ']':
            printf("\n%*s%c", 2 * (depth > 0 ? --depth : 0), "", c);
            break;
        case ',':
            printf(",\n%*s", 2 * depth, "");
            break;
        case ':':
            fputs(": ", stdout);
            break;
        case ' ':
        case '\n':
        case '\r':
        case '\t':
            break;
        default:
            putchar(c);
        }
    }
    putchar('\n');
}

/* The error sentence of {"error":"..."}, unescaped enough to read. */
static void print_error(const char *body, int status)
{
    const char *e = strstr(body, "\"error\":\"");
    fprintf(stderr, "sipchainctl: %d: ", status);
    if (e == NULL) {
        fprintf(stderr, "%s\n", body);
        return;
    }
    for (e += 9; *e && *e != '"'; e++) {
        if (*e == '\\' && e[1])
            e++;
        fputc(*e, stderr);
    }
    fputc('\n', stderr);
}

/* --- the request ---------------------------------------------------------- */

/* s percent-encoded for a path segment (an AOR's '@' and ':' are fine in
 * a path, '/', '?', '#', '%' and blanks are not). */
static void encode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || strchr("/?#%&+\"<>\\[]^`{|}", c))
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

static int run(const char *addr, const char *token, const char *method, const char *path,
               const char *body, bool raw_json)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += TIMEOUT_MS / 1000;
    int fd = connect_to(addr, &deadline);
    if (fd < 0)
        return EXIT_NO_ANSWER;
    char *req = NULL;
    int n = asprintf(&req,
                     "%s %s HTTP/1.0\r\nHost: sipchain\r\nUser-Agent: sipchainctl\r\n%s%s%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
    if (n < 0 || !send_all(fd, req, (size_t)n, &deadline)) {
        fprintf(stderr, "sipchainctl: cannot send to %s: %s\n", addr, strerror(errno));
        free(n < 0 ? NULL : req);
        close(fd);
        return EXIT_NO_ANSWER;
    }
    free(req);
    size_t len;
    char *ans = read_all(fd, &len, &deadline);
    close(fd);
    int status;
    char *bodyp = ans ? strstr(ans, "\r\n\r\n") : NULL;
    if (ans == NULL || sscanf(ans, "HTTP/1.%*d %d", &status) != 1 || bodyp == NULL) {
        fprintf(stderr, "sipchainctl: no HTTP answer from %s%s\n", addr, ans ? "" : " (timeout?)");
        free(ans);
        return EXIT_NO_ANSWER;
    }
    bodyp += 4;
    size_t blen = len - (size_t)(bodyp - ans);
    int rc = 0;
    if (status >= 200 && status < 300) {
        if (raw_json)
            fwrite(bodyp, 1, blen, stdout);
        else
            pretty(bodyp, blen);
    } else {
        print_error(bodyp, status);
        rc = EXIT_REFUSED;
    }
    free(ans);
    return rc;
}

int main(int argc, char **argv)
{
    const char *addr = getenv("SIPCHAIN_ADMIN"), *token = getenv("SIPCHAIN_ADMIN_TOKEN"),
               *link = NULL;
    bool json = false;
    /* options anywhere ("blocks list --json"); what is left is the command */
    static char *pos[16];
    int np = 0;
    for (int k = 1; k < argc; k++) {
        const char *o = argv[k];
        if ((o[0] != '-' || o[1] == '\0') && np == 15)
            return usage("too many arguments");
        if (o[0] != '-' || o[1] == '\0')
            pos[np++] = argv[k];
        else if (strcmp(o, "--json") == 0)
            json = true;
        else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0)
            return fputs(USAGE, stdout), 0;
        else if ((strcmp(o, "-s") == 0 || strcmp(o, "-t") == 0 || strcmp(o, "-l") == 0) &&
                 k + 1 < argc)
            *(o[1] == 's' ? &addr : o[1] == 't' ? &token : &link) = argv[++k];
        else
            return usage("unknown option or missing value");
    }
    argv = pos;
    argc = np;
    int i = 0;
    if (addr == NULL || *addr == '\0')
        addr = DEFAULT_ADDR;
    if (token && *token == '\0')
        token = NULL;
    if (i == argc)
        return usage(NULL);
    const char *cmd = argv[i], *sub = i + 1 < argc ? argv[i + 1] : NULL,
               *arg = i + 2 < argc ? argv[i + 2] : NULL;
    int extra = argc - i - 1;
    const char *method = "GET", *res = NULL, *body = NULL;
    char item[1024] = "", bodybuf[64];
    if (strcmp(cmd, "resources") == 0 && extra == 0) {
        res = "";
    } else if (strcmp(cmd, "reg") == 0 || strcmp(cmd, "calls") == 0 || strcmp(cmd, "blocks") == 0 ||
               strcmp(cmd, "dialogs") == 0) {
        res = cmd[0] == 'r' ? "registrations" : cmd;
        const char *one = cmd[0] == 'r' ? "show" : NULL, *del = cmd[0] == 'r'   ? "del"
                                                                : cmd[0] == 'b' ? "lift"
                                                                                : "end";
        if (sub && strcmp(sub, "list") == 0 && extra == 1)
            ;
        else if (sub && one && strcmp(sub, one) == 0 && extra == 2)
            encode(arg, item, sizeof(item));
        else if (sub && strcmp(sub, del) == 0 && extra == 2)
            encode(arg, item, sizeof(item)), method = "DELETE";
        else
            return usage("see the subcommands of reg, calls, dialogs and blocks");
    } else if (strcmp(cmd, "txn") == 0 && extra == 0) {
        res = "transactions";
    } else if (strcmp(cmd, "stats") == 0 && extra == 0) {
        res = "counters";
    } else if (strcmp(cmd, "reload") == 0 && extra == 0) {
        res = "reload";
        method = "POST";
    } else if (strcmp(cmd, "log-level") == 0 && extra <= 1) {
        res = "log-level";
        if (sub) {
            if (strspn(sub, "abcdefghijklmnopqrstuvwxyz") != strlen(sub) || strlen(sub) > 16)
                return usage("a log level is error, warn, info or debug");
            snprintf(bodybuf, sizeof(bodybuf), "{\"level\":\"%s\"}", sub);
            body = bodybuf;
            method = "PUT";
        }
    } else if (strcmp(cmd, "raw") == 0 && (extra == 2 || extra == 3) && sub[0] != '\0' &&
               argv[i + 2][0] == '/') {
        return run(addr, token, sub, argv[i + 2], extra == 3 ? argv[i + 3] : NULL, json);
    } else {
        return usage("unknown command or wrong arguments");
    }
    char path[1400], lq[300] = "";
    if (link) {
        char enc[256];
        encode(link, enc, sizeof(enc));
        snprintf(lq, sizeof(lq), "?link=%s", enc);
    }
    snprintf(path, sizeof(path), "/v1%s%s%s%s%s", res[0] ? "/" : "", res, item[0] ? "/" : "", item,
             lq);
    return run(addr, token, method, path, body, json);
}
