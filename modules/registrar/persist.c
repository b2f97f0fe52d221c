/*
 * persist.c — the bindings on disk: an append-only log of puts and
 * removes, one line each, written with one write(2) before the 200 goes
 * out, so a crash or restart loses nothing that was acknowledged (with
 * fsync on, not even a power cut).  At open the log is replayed, what
 * expired is dropped, and the live set is written to a new file that
 * atomically replaces the log (write, fsync, rename): the log never grows
 * past about twice the live set plus a margin, because it is compacted
 * the same way whenever it does.
 *
 * A line:  + AOR URI EXPIRES_AT Q CSEQ REG_ID CALL_ID PATH RECEIVED INSTANCE
 *          - AOR URI
 * fields escaped (%25 %20 %0A %0D, "-" for none as %2D), so a value with
 * spaces cannot shift the fields.  A torn last line (a crash mid-write)
 * is ignored with a warning.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

struct persist {
    char  *path;
    int    fd;
    bool   fsync_each;
    size_t records;             /* lines in the log */
};

static void put_field(char **p, char *end, const char *v)
{
    if (*p >= end)
        return;
    if (v == NULL) {
        *(*p)++ = '-';
    } else if (strcmp(v, "-") == 0) {
        *p += snprintf(*p, (size_t)(end - *p), "%%2D");
    } else {
        for (; *v && *p + 3 < end; v++) {
            if (*v == '%' || *v == ' ' || *v == '\n' || *v == '\r')
                *p += snprintf(*p, (size_t)(end - *p), "%%%02X", (unsigned char)*v);
            else
                *(*p)++ = *v;
        }
    }
    if (*p < end)
        *(*p)++ = ' ';
}

/* A line for b (put) or its removal into buf; its length, 0 when it
 * does not fit. */
static size_t line_for(char *buf, size_t cap, const aor_t *a, const binding_t *b, bool put)
{
    char *p = buf, *end = buf + cap - 1;
    char num[64];
    *p++ = put ? '+' : '-';     /* the marker as is: "-" reads back as none */
    *p++ = ' ';
    put_field(&p, end, a->aor);
    put_field(&p, end, b->uri);
    if (put) {
        snprintf(num, sizeof(num), "%lld", (long long)b->expires_at);
        put_field(&p, end, num);
        snprintf(num, sizeof(num), "%d", b->q);
        put_field(&p, end, num);
        snprintf(num, sizeof(num), "%u", b->cseq);
        put_field(&p, end, num);
        snprintf(num, sizeof(num), "%ld", b->reg_id);
        put_field(&p, end, num);
        put_field(&p, end, b->call_id);
        put_field(&p, end, b->path);
        put_field(&p, end, b->received);
        put_field(&p, end, b->instance);
    }
    if (p >= end)
        return 0;
    p[-1] = '\n';               /* the last separator ends the line */
    return (size_t)(p - buf);
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static void record(store_t *s, const aor_t *a, const binding_t *b, bool put);

/* The live set into PATH.new, then renamed over the log. */
static int compact(store_t *s)
{
    persist_t *l = s->log;
    char tmp[4200], buf[8192];
    snprintf(tmp, sizeof(tmp), "%s.new", l->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < s->cap && rc == 0; i++)
        for (aor_t *a = s->tab[i]; a && rc == 0; a = a->next)
            for (binding_t *b = a->bindings; b && rc == 0; b = b->next) {
                size_t len = line_for(buf, sizeof(buf), a, b, true);
                rc = len ? write_all(fd, buf, len) : 0;
                n++;
            }
    if (rc != 0 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, l->path) != 0) {
        unlink(tmp);
        return -1;
    }
    int nfd = open(l->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (nfd < 0)
        return -1;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = nfd;
    l->records = n;
    return 0;
}

static void record(store_t *s, const aor_t *a, const binding_t *b, bool put)
{
    persist_t *l = s->log;
    if (l == NULL || l->fd < 0)
        return;
    char buf[8192];
    size_t len = line_for(buf, sizeof(buf), a, b, put);
    if (len == 0 || write_all(l->fd, buf, len) != 0 || (l->fsync_each && fdatasync(l->fd) != 0))
        fprintf(stderr, "registrar: %s: cannot record a binding: %s\n", l->path, strerror(errno));
    if (++l->records > 2 * s->nbindings + 1024)
        compact(s);
}

void persist_put(store_t *s, const aor_t *a, const binding_t *b) { record(s, a, b, true); }
void persist_remove(store_t *s, const aor_t *a, const binding_t *b) { record(s, a, b, false); }

/* Splits a line in place into up to max unescaped fields; a field
 * that is just "-" is none (NULL). */
static int fields(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line; *p && n < max;) {
        char *e = p;
        while (*e && *e != ' ')
            e++;
        char *next = *e ? e + 1 : e;
        bool none = e - p == 1 && *p == '-';
        *e = '\0';
        char *o = p;
        for (char *i = p; *i;) {
            unsigned v;
            if (*i == '%' && i[1] && i[2] && sscanf(i + 1, "%2x", &v) == 1) {
                *o++ = (char)v;
                i += 3;
            } else {
                *o++ = *i++;
            }
        }
        *o = '\0';
        f[n++] = none ? NULL : p;
        p = next;
    }
    return n;
}

static int replay(store_t *s, FILE *in, time_t now, char *err, size_t errlen)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (line[len - 1] != '\n') {
            fprintf(stderr, "registrar: %s:%u: a torn last line (ignored)\n", s->log->path, lineno);
            break;
        }
        line[len - 1] = '\0';
        char *f[11];
        int n = fields(line, f, 11);
        aor_t *a;
        if (n == 3 && f[0] == NULL && f[1] && f[2]) {      /* "- AOR URI" */
            if ((a = store_aor(s, f[1], false)) != NULL)
                for (binding_t *b = a->bindings; b; b = b->next)
                    if (strcmp(b->uri, f[2]) == 0) {
                        store_remove(s, a, b);
                        break;
                    }
            continue;
        }
        if (n != 11 || f[0] == NULL || strcmp(f[0], "+") || !f[1] || !f[2] || !*f[2] || !f[3] || !f[4] ||
            !f[5] || !f[6]) {
            snprintf(err, errlen, "%s:%u: not a binding record", s->log->path, lineno);
            free(line);
            return -1;
        }
        time_t exp = (time_t)strtoll(f[3], NULL, 10);
        if (exp <= now)
            continue;
        binding_t *b = binding_new(
            &(binding_t){ .expires_at = exp, .q = atoi(f[4]), .cseq = (uint32_t)strtoul(f[5], NULL, 10),
                          .reg_id = strtol(f[6], NULL, 10) },
            &(binding_text_t){ .uri = text_of(f[2]), .call_id = text_of(f[7]), .path = text_of(f[8]),
                               .received = text_of(f[9]), .instance = text_of(f[10]) });
        if (b == NULL || (a = store_aor(s, f[1], true)) == NULL) {
            binding_free(b);
            free(line);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        store_put(s, a, b);
    }
    free(line);
    return 0;
}

int persist_open(store_t *s, const char *path, bool fsync_each, char *err, size_t errlen)
{
    persist_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->path = strdup(path)) == NULL) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->fd = -1;
    l->fsync_each = fsync_each;
    s->log = l;
    FILE *in = fopen(path, "r");
    if (in == NULL && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (in) {
        int rc = replay(s, in, time(NULL), err, errlen);
        fclose(in);
        if (rc != 0)
            return -1;
    }
    if (compact(s) != 0) {          /* a fresh log holding the live set */
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void persist_close(store_t *s)
{
    persist_t *l = s->log;
    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->path);
    free(l);
    s->log = NULL;
}
