/* sc_log.c — see sc_log.h. */
#include "sc_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

sc_log_level_t sc_log_level = SC_LOG_INFO;
bool sc_log_sip_trace;

static const char *const names[] = { "error", "warn", "info", "debug" };

#define QUEUE_SIZE (1u << 20)   /* 1 MiB of pending log text */

/* The queue and everything the writer thread reads are guarded by mu. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    pthread_t       thread;
    bool            running, stopping, reopen;
    char           *ring;
    size_t          head, tail;         /* bytes in [tail, head) mod size */
    size_t          reopen_at;          /* lines before this go to the old file */
    unsigned long   dropped;
    sc_log_target_t target;
    char            path[1024];
    int             fd;                 /* file target, or stderr */
    bool            json;
} q = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fd = 2 };

int sc_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;             /* nowhere to report a failing log */
        s += w;
        n -= (size_t)w;
    }
}

/* Writes a chunk of whole lines to the current target. */
static void emit(const char *s, size_t n, sc_log_target_t target, int fd)
{
    if (target != SC_LOG_TO_SYSLOG) {
        write_all(fd, s, n);
        return;
    }
    while (n) {
        const char *nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t)(nl - s) : n;
        syslog(LOG_INFO, "%.*s", (int)len, s);
        len += nl != NULL;
        s += len;
        n -= len;
    }
}

static void *writer(void *arg)
{
    (void)arg;
    char *chunk = malloc(64 * 1024);
    pthread_mutex_lock(&q.mu);
    for (;;) {
        while (q.head == q.tail && !q.stopping && !q.reopen)
            pthread_cond_wait(&q.cv, &q.mu);
        /* lines logged before the reopen request still belong to the old
         * file: write up to reopen_at first */
        if (q.reopen && q.tail == q.reopen_at) {
            q.reopen = false;
            if (q.target == SC_LOG_TO_FILE) {
                int fd = open_file(q.path);
                if (fd >= 0) {
                    if (q.fd > 2)
                        close(q.fd);
                    q.fd = fd;
                }
            }
        }
        if (q.head == q.tail && q.stopping)
            break;
        size_t n = 0, stop = q.reopen ? q.reopen_at : q.head;
        while (q.tail != stop && n < 64 * 1024) {
            chunk[n++] = q.ring[q.tail];
            q.tail = (q.tail + 1) & (QUEUE_SIZE - 1);
        }
        sc_log_target_t target = q.target;
        int fd = q.fd;
        pthread_mutex_unlock(&q.mu);
        emit(chunk, n, target, fd);         /* outside the lock: the loop never waits */
        pthread_mutex_lock(&q.mu);
    }
    pthread_mutex_unlock(&q.mu);
    free(chunk);
    return NULL;
}

static size_t json_escape_n(char *out, size_t cap, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (c == '\r') {
            out[n++] = '\\';
            out[n++] = 'r';
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

/* What this thread is handling (the event loop's: the message being
 * processed); set by the server around a message, read by every line. */
static __thread sc_log_fields_t ctx;

static void copy_field(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

void sc_log_context_peer(const char *transport, const char *ip, unsigned port)
{
    memset(&ctx, 0, sizeof(ctx));
    snprintf(ctx.transport, sizeof(ctx.transport), "%s", transport);
    snprintf(ctx.peer, sizeof(ctx.peer), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
}

void sc_log_context_msg(const char *call_id, size_t call_id_len, const char *method, size_t method_len,
                        unsigned status)
{
    copy_field(ctx.call_id, sizeof(ctx.call_id), call_id ? call_id : "", call_id ? call_id_len : 0);
    copy_field(ctx.method, sizeof(ctx.method), method ? method : "", method ? method_len : 0);
    ctx.status = status;
}

void sc_log_context_clear(void)
{
    memset(&ctx, 0, sizeof(ctx));
}

/* One line in the configured format.  JSON: ts, level, msg, then the
 * fields known (the thread's context, the module, the SIP message). */
static size_t format_line(char *line, size_t cap, bool json, const char *stamp, sc_log_level_t lvl,
                          const char *text, const char *module, const char *sip, size_t sip_len,
                          unsigned status)
{
    size_t len;
    if (!json) {
        if (module)
            len = (size_t)snprintf(line, cap, "%s [%s] %s: %s\n", stamp, names[lvl], module, text);
        else
            len = (size_t)snprintf(line, cap, "%s [%s] %s\n", stamp, names[lvl], text);
        if (len >= cap)
            len = cap - 1;
        if (sip && len + sip_len + 2 < cap) {   /* a trace: the message on the lines after */
            memcpy(line + len, sip, sip_len);
            len += sip_len;
            if (sip_len && sip[sip_len - 1] != '\n')
                line[len++] = '\n';
        }
        return len;
    }
    len = (size_t)snprintf(line, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", stamp, names[lvl]);
    len += json_escape_n(line + len, cap - len - 64, text, strlen(text));
    line[len++] = '"';
    const struct { const char *key, *val; } f[] = {
        { "module", module },       { "call_id", ctx.call_id }, { "method", ctx.method },
        { "peer", ctx.peer },       { "transport", ctx.transport },
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (f[i].val == NULL || *f[i].val == '\0' || len + 64 >= cap)
            continue;
        len += (size_t)snprintf(line + len, cap - len, ",\"%s\":\"", f[i].key);
        len += json_escape_n(line + len, cap - len - 64, f[i].val, strlen(f[i].val));
        line[len++] = '"';
    }
    if (status == 0)
        status = ctx.status;
    if (status && len + 32 < cap)
        len += (size_t)snprintf(line + len, cap - len, ",\"status\":%u", status);
    if (sip && len + 64 < cap) {
        len += (size_t)snprintf(line + len, cap - len, ",\"sip\":\"");
        len += json_escape_n(line + len, cap - len - 8, sip, sip_len);
        line[len++] = '"';
    }
    len += (size_t)snprintf(line + len, cap - len, "}\n");
    return len < cap ? len : cap - 1;
}

/* Lines logged before the log target opens (the configuration read, the
 * modules created) go to stderr and are kept here, both formats, to be
 * written to the target once it opens (the first sc_log_configure). */
#define EARLY_MAX 256
static struct early {
    char *text, *json;
} early[EARLY_MAX];
static int  nearly;
static bool configured;             /* sc_log_configure succeeded once */

static void enqueue(const char *line, size_t len, const char *stamp)
{
    size_t used = (q.head - q.tail) & (QUEUE_SIZE - 1);
    if (used + len >= QUEUE_SIZE - 1) {
        q.dropped++;
        return;
    }
    if (q.dropped) {
        char note[96];
        int k = snprintf(note, sizeof(note), "%s [warn] %lu log lines dropped (queue full)\n",
                         stamp, q.dropped);
        for (int i = 0; i < k && used + len + (size_t)k < QUEUE_SIZE - 1; i++) {
            q.ring[q.head] = note[i];
            q.head = (q.head + 1) & (QUEUE_SIZE - 1);
        }
        q.dropped = 0;
    }
    for (size_t i = 0; i < len; i++) {
        q.ring[q.head] = line[i];
        q.head = (q.head + 1) & (QUEUE_SIZE - 1);
    }
    pthread_cond_signal(&q.cv);
}

static void log_line(sc_log_level_t lvl, const char *module, const char *sip, size_t sip_len,
                     unsigned status, const char *fmt, va_list ap)
{
    char text[8192];
    static __thread char line[90000];   /* a trace carries a whole message (65535 at most) */
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[80];
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    vsnprintf(text, sizeof(text), fmt, ap);
    size_t len = format_line(line, sizeof(line), q.json && q.running, stamp, lvl, text, module, sip, sip_len, status);
    if (!q.running) {                   /* before start and after shutdown */
        write_all(2, line, len);
        if (!configured && nearly < EARLY_MAX && sip == NULL) {
            char j[9000];
            size_t jl = format_line(j, sizeof(j), true, stamp, lvl, text, module, NULL, 0, 0);
            early[nearly].text = strndup(line, len);
            early[nearly].json = strndup(j, jl);
            nearly++;
        }
        return;
    }
    pthread_mutex_lock(&q.mu);
    enqueue(line, len, stamp);
    pthread_mutex_unlock(&q.mu);
}

void sc_log_write(sc_log_level_t lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(lvl, NULL, NULL, 0, 0, fmt, ap);
    va_end(ap);
}

void sc_log_write_module(sc_log_level_t lvl, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(lvl, module, NULL, 0, 0, fmt, ap);
    va_end(ap);
}

void sc_log_trace(const char *sip, size_t sip_len, const char *fmt, ...)
{
    /* a response's own status, not that of the message being handled */
    unsigned status = 0;
    if (sip_len > 12 && memcmp(sip, "SIP/2.0 ", 8) == 0 && sip[8] >= '1' && sip[8] <= '6')
        status = (unsigned)(sip[8] - '0') * 100 + (unsigned)(sip[9] - '0') * 10 + (unsigned)(sip[10] - '0');
    va_list ap;
    va_start(ap, fmt);
    log_line(SC_LOG_INFO, NULL, sip, sip_len, status, fmt, ap);
    va_end(ap);
}

/* The early lines, to a target other than stderr (which has them). */
static void early_flush(bool to_target)
{
    for (int i = 0; i < nearly; i++) {
        if (to_target) {
            const char *l = q.json ? early[i].json : early[i].text;
            if (l)
                enqueue(l, strlen(l), "");
        }
        free(early[i].text);
        free(early[i].json);
    }
    nearly = 0;
}

int sc_log_configure(const sc_log_conf_t *c, char *err, size_t errlen)
{
    int fd = 2;
    if (c->target == SC_LOG_TO_FILE && (fd = open_file(c->file)) < 0) {
        snprintf(err, errlen, "cannot open log file %s: %s", c->file, strerror(errno));
        return -1;
    }
    if (c->target == SC_LOG_TO_SYSLOG)
        openlog("sipchain", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    pthread_mutex_lock(&q.mu);
    if (q.fd > 2)
        close(q.fd);
    q.fd = fd;
    q.target = c->target;
    q.json = c->json;
    snprintf(q.path, sizeof(q.path), "%s", c->file ? c->file : "");
    if (q.ring == NULL)
        q.ring = malloc(QUEUE_SIZE);
    bool start = !q.running && q.ring;
    if (!configured && q.ring) {
        early_flush(c->target != SC_LOG_TO_STDERR);
        configured = true;
    }
    pthread_mutex_unlock(&q.mu);
    sc_log_level = c->level;
    sc_log_sip_trace = c->sip_trace;
    if (start) {
        /* the writer takes no signal: they belong to the event loop's
         * thread (a SIGTERM landing here after the loop stopped would kill
         * the process with lines still queued) */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&q.thread, NULL, writer, NULL) == 0)
            q.running = true;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return 0;
}

void sc_log_reopen(void)
{
    pthread_mutex_lock(&q.mu);
    q.reopen = true;
    q.reopen_at = q.head;
    pthread_cond_signal(&q.cv);
    pthread_mutex_unlock(&q.mu);
}

void sc_log_shutdown(void)
{
    early_flush(false);             /* never configured (a failed start): stderr had them */
    if (!q.running)
        return;
    pthread_mutex_lock(&q.mu);
    q.stopping = true;
    pthread_cond_signal(&q.cv);
    pthread_mutex_unlock(&q.mu);
    pthread_join(q.thread, NULL);
    q.running = false;
    q.stopping = false;
    if (q.fd > 2)
        close(q.fd);
    q.fd = 2;
    free(q.ring);
    q.ring = NULL;
    q.json = false;
}
