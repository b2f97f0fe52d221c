/*
 * writer.c — the writer thread (writer.h).  One mutex guards a singly
 * linked queue; the thread takes the whole queue at once, joins it into
 * one buffer and writes it, so a burst of records costs one syscall.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writer.h"

typedef struct line {
    struct line *next;
    size_t       len;
    char         text[];
} line_t;

struct writer {
    char           *path, *header;
    int             fd;
    fsync_policy_t  policy;
    pthread_t       thread;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    line_t         *head, **tail;
    bool            closing, reopen;
    unsigned long   lost;
};

/* The file at its path, with the header if it is empty; -1 with errno. */
static int open_file(writer_t *w)
{
    int fd = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    struct stat sb;
    if (fd >= 0 && w->header && fstat(fd, &sb) == 0 && sb.st_size == 0 &&
        write(fd, w->header, strlen(w->header)) < 0)
        fprintf(stderr, "cdr-writer: %s: cannot write the header: %s\n", w->path, strerror(errno));
    return fd;
}

static void write_batch(writer_t *w, line_t *l)
{
    size_t total = 0;
    for (line_t *x = l; x; x = x->next)
        total += x->len;
    char *buf = malloc(total ? total : 1), *p = buf;
    for (line_t *x = l, *n; x; x = n) {
        n = x->next;
        if (buf)
            memcpy(p, x->text, x->len), p += x->len;
        free(x);
    }
    for (size_t off = 0; buf && off < total;) {
        ssize_t n = write(w->fd, buf + off, total - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "cdr-writer: %s: %s (%zu bytes lost)\n", w->path, strerror(errno), total - off);
            break;
        }
        off += (size_t)n;
    }
    if (w->policy == FSYNC_BATCH)
        fdatasync(w->fd);
    free(buf);
}

static void *run(void *arg)
{
    writer_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && !w->closing && !w->reopen)
            pthread_cond_wait(&w->cv, &w->mu);
        line_t *batch = w->head;
        w->head = NULL;
        w->tail = &w->head;
        bool reopen = w->reopen, done = w->closing && batch == NULL;
        w->reopen = false;
        pthread_mutex_unlock(&w->mu);
        if (batch)
            write_batch(w, batch);
        if (reopen) {
            int fd = open_file(w);
            if (fd >= 0) {
                close(w->fd);
                w->fd = fd;
            } else {
                fprintf(stderr, "cdr-writer: cannot reopen %s: %s\n", w->path, strerror(errno));
            }
        }
        if (done)
            return NULL;
        pthread_mutex_lock(&w->mu);
    }
}

writer_t *writer_open(const char *path, fsync_policy_t policy, const char *header)
{
    writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->path = strdup(path)) == NULL || (header && (w->header = strdup(header)) == NULL)) {
        if (w)
            free(w->path);
        free(w);
        return NULL;
    }
    w->policy = policy;
    w->tail = &w->head;
    w->fd = open_file(w);
    if (w->fd < 0) {
        int e = errno;
        free(w->path);
        free(w->header);
        free(w);
        errno = e;
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    /* the thread takes no signals: the loop's signal handling stays whole */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(w->fd);
        free(w->path);
        free(w->header);
        free(w);
        errno = rc;
        return NULL;
    }
    return w;
}

int writer_put(writer_t *w, const char *text, size_t len)
{
    line_t *l = malloc(sizeof(*l) + len);
    if (l == NULL) {
        w->lost++;
        return -1;
    }
    l->next = NULL;
    l->len = len;
    memcpy(l->text, text, len);
    pthread_mutex_lock(&w->mu);
    *w->tail = l;
    w->tail = &l->next;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void writer_reopen(writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->reopen = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void writer_close(writer_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    fsync(w->fd);
    close(w->fd);
    if (w->lost)
        fprintf(stderr, "cdr-writer: %s: %lu record(s) lost (out of memory)\n", w->path, w->lost);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->path);
    free(w->header);
    free(w);
}
