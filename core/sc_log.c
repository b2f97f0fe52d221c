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

static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (c == '\r') {
            out[n++] = '\\';
            out[n++] = 'r';
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

void sc_log_write(sc_log_level_t lvl, const char *fmt, ...)
{
    char text[8192], line[16600];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[80];
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    size_t len;
    if (q.json) {
        len = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", stamp,
                               names[lvl]);
        len += json_escape(line + len, sizeof(line) - len - 4, text);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\"}\n");
    } else {
        len = (size_t)snprintf(line, sizeof(line), "%s [%s] %s\n", stamp, names[lvl], text);
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
    }
    if (!q.running) {                   /* before start and after shutdown */
        write_all(2, line, len);
        return;
    }
    pthread_mutex_lock(&q.mu);
    size_t used = (q.head - q.tail) & (QUEUE_SIZE - 1);
    if (used + len >= QUEUE_SIZE - 1) {
        q.dropped++;
    } else {
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
    pthread_mutex_unlock(&q.mu);
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
