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
 * spaces cannot shift the fields.
 *
 * Damage never stops a start: a torn last line (a crash mid-write), a
 * line that is not a record (garbage, a NUL, a torn write the next
 * record was appended to, a field that is not a number) is skipped with
 * a warning naming its line, and the rest is replayed.  The damaged log
 * is kept beside the new one as PATH.damaged for a look, and the live set
 * written over PATH as at every start.  A write that fails half done
 * (disk full) is repaired the same way: the log is compacted from memory
 * at once, so the half line does not stay in it.
 *
 * Compaction: whenever the log holds more than twice the live bindings
 * plus 1024 lines, the live set is written to PATH.new, fsynced, renamed
 * over PATH and the directory fsynced; a failed compaction is warned
 * about and tried again 1024 records later.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

struct persist {
    char                *path;
    int                  fd;
    bool                 fsync_each;
    size_t               records;       /* lines in the log */
    size_t               retry_at;      /* after a failed compaction: records to try again at */
    const sc_instance_t *inst;          /* for the warnings */
};

#define SLACK 1024              /* dead lines allowed beyond twice the live ones */

#define warn(l, ...) sc_instance_log((l)->inst, SC_LOG_LEVEL_WARN, __VA_ARGS__)

/* The directory of path, fsynced: a rename in it is on disk. */
static void sync_dir(const char *path)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

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

/* The live set into PATH.new, then renamed over the log.  gone: a
 * binding still in the store whose removal is being recorded (it is
 * taken out of the store after that), left out. */
static int compact(store_t *s, const binding_t *gone)
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
                if (b == gone)
                    continue;
                size_t len = line_for(buf, sizeof(buf), a, b, true);
                if (len == 0) {
                    warn(l, "%s: a binding of %s too long to record (not kept across a restart)",
                         l->path, a->aor);
                    continue;
                }
                rc = write_all(fd, buf, len);
                n++;
            }
    if (rc != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, l->path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    sync_dir(l->path);
    /* the old fd is the replaced file now: nothing more goes to it */
    if (l->fd >= 0)
        close(l->fd);
    l->fd = open(l->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (l->fd < 0)
        return -1;
    l->records = n;
    l->retry_at = 0;
    return 0;
}

/* Compaction while running: a failure is warned about, not retried at
 * every record. */
static void compact_now(store_t *s, const binding_t *gone, const char *why)
{
    persist_t *l = s->log;
    if (compact(s, gone) == 0)
        return;
    warn(l, "%s: cannot compact (%s): %s; trying again in %d records", l->path, why, strerror(errno), SLACK);
    l->retry_at = l->records + SLACK;
}

static void record(store_t *s, const aor_t *a, const binding_t *b, bool put)
{
    persist_t *l = s->log;
    if (l == NULL)
        return;
    if (l->fd < 0) {                /* lost in a failed compaction: the next one makes it anew */
        if (++l->records >= l->retry_at)
            compact_now(s, put ? NULL : b, "the log is not open");
        return;
    }
    char buf[8192];
    size_t len = line_for(buf, sizeof(buf), a, b, put);
    if (len == 0) {
        warn(l, "%s: a binding of %s too long to record (not kept across a restart)", l->path, a->aor);
        return;
    }
    if (write_all(l->fd, buf, len) != 0 || (l->fsync_each && fdatasync(l->fd) != 0)) {
        /* maybe half a line in the log: write it afresh from memory
         * (which has this change already) */
        warn(l, "%s: cannot record a binding: %s", l->path, strerror(errno));
        l->records++;
        if (l->retry_at == 0 || l->records >= l->retry_at)
            compact_now(s, put ? NULL : b, "after a failed write");
        return;
    }
    l->records++;
    if (l->retry_at ? l->records >= l->retry_at : l->records > 2 * s->nbindings + SLACK)
        compact_now(s, put ? NULL : b, "the log outgrew the live set");
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

/* A whole decimal number in [min, max] into v; false when f is not one. */
static bool number(const char *f, long long min, long long max, long long *v)
{
    if (f == NULL || *f == '\0' || (*f != '-' && (*f < '0' || *f > '9')))
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(f, &end, 10);
    if (errno || *end || x < min || x > max)
        return false;
    *v = x;
    return true;
}

/* Replays the log; the lines skipped as damaged into *damaged. */
static int replay(store_t *s, FILE *in, time_t now, unsigned *damaged, char *err, size_t errlen)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    persist_t *l = s->log;
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (line[len - 1] != '\n') {
            warn(l, "%s:%u: a torn last line (ignored)", l->path, lineno);
            ++*damaged;
            break;
        }
        line[len - 1] = '\0';
        if (strlen(line) != (size_t)len - 1) {
            warn(l, "%s:%u: not a binding record: a NUL byte (skipped)", l->path, lineno);
            ++*damaged;
            continue;
        }
        char *f[12];
        int n = fields(line, f, 12);
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
        long long exp, q, cseq, reg_id;
        if (n != 11 || f[0] == NULL || strcmp(f[0], "+") || !f[1] || !*f[1] || !f[2] || !*f[2] ||
            !number(f[3], 0, LLONG_MAX, &exp) || !number(f[4], -1, 1000, &q) ||
            !number(f[5], 0, UINT32_MAX, &cseq) || !number(f[6], -1, LONG_MAX, &reg_id)) {
            warn(l, "%s:%u: not a binding record (skipped)", l->path, lineno);
            ++*damaged;
            continue;
        }
        if ((time_t)exp <= now)
            continue;
        binding_t *b = binding_new(
            &(binding_t){ .expires_at = (time_t)exp, .q = (int)q, .cseq = (uint32_t)cseq, .reg_id = (long)reg_id },
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

void persist_set_inst(store_t *s, const sc_instance_t *inst, const sc_instance_t *unless)
{
    if (s->log && (unless == NULL || s->log->inst == unless))
        s->log->inst = inst;
}

int persist_open(store_t *s, const sc_instance_t *inst, const char *path, bool fsync_each, char *err,
                 size_t errlen)
{
    persist_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->path = strdup(path)) == NULL) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->fd = -1;
    l->fsync_each = fsync_each;
    l->inst = inst;
    s->log = l;
    FILE *in = fopen(path, "r");
    if (in == NULL && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    unsigned damaged = 0;
    if (in) {
        int rc = replay(s, in, time(NULL), &damaged, err, errlen);
        fclose(in);
        if (rc != 0)
            return -1;
    }
    if (damaged) {                  /* kept for a look before it is compacted away */
        char keep[4200];
        snprintf(keep, sizeof(keep), "%s.damaged", path);
        unlink(keep);
        if (link(path, keep) == 0)
            warn(l, "%s: %u damaged line(s) skipped; the log as it was is kept in %s", path, damaged, keep);
        else
            warn(l, "%s: %u damaged line(s) skipped (cannot keep a copy: %s)", path, damaged, strerror(errno));
    }
    if (compact(s, NULL) != 0) {          /* a fresh log holding the live set */
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Whether the file at the log's path is the one we append to.  Not when
 * another process replaced it (`sipchain -t` compacts the log it
 * reads: systemctl reload runs it before the SIGHUP) or an operator
 * moved it away: appends would then go to a file nobody will read. */
static bool still_ours(const persist_t *l)
{
    struct stat a, b;
    if (l->fd < 0)
        return false;
    if (stat(l->path, &a) != 0 || fstat(l->fd, &b) != 0)
        return false;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void persist_check(store_t *s)
{
    persist_t *l = s->log;
    /* after a failed compaction, record() tries again in its time */
    if (l == NULL || l->retry_at || still_ours(l))
        return;
    /* memory is the truth: the log is written afresh from it */
    if (compact(s, NULL) == 0) {
        sc_instance_log(l->inst, SC_LOG_LEVEL_WARN, "%s was replaced or moved: written afresh (%zu binding(s))",
                        l->path, s->nbindings);
        return;
    }
    warn(l, "%s was replaced or moved, and cannot be written afresh: %s; trying again in %d records", l->path,
         strerror(errno), SLACK);
    l->retry_at = l->records + SLACK;
}

const char *persist_path(const store_t *s)
{
    return s->log ? s->log->path : NULL;
}

int persist_switch(store_t *s, const sc_instance_t *inst, const char *path, bool fsync_each, char *err,
                   size_t errlen)
{
    persist_t *old = s->log;
    if (path == NULL) {
        persist_close(s);
        return 0;
    }
    if (old && strcmp(old->path, path) == 0) {
        old->fsync_each = fsync_each;
        old->inst = inst;
        persist_check(s);
        return 0;
    }
    persist_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->path = strdup(path)) == NULL) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->fd = -1;
    l->fsync_each = fsync_each;
    l->inst = inst;
    /* the bindings in memory are the truth: they are the new log,
     * whatever the file held */
    s->log = l;
    if (compact(s, NULL) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        if (l->fd >= 0)
            close(l->fd);
        free(l->path);
        free(l);
        s->log = old;
        return -1;
    }
    if (old) {
        if (old->fd >= 0)
            close(old->fd);
        free(old->path);
        free(old);
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
