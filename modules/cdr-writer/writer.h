/*
 * writer.h — lines appended to a file by a thread of their own, so the
 * event loop never waits on the disk.  Lines are queued whole and written
 * in batches with one write(2) each; close drains the queue first, so
 * nothing queued is lost at stop or reload.
 */
#ifndef CDR_WRITER_H
#define CDR_WRITER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { FSYNC_NEVER, FSYNC_BATCH } fsync_policy_t;

typedef struct writer writer_t;

/* Opens path for appending (created 0640); header (may be NULL) is
 * written first whenever the file is empty, at open and at reopen.  NULL
 * with errno. */
writer_t *writer_open(const char *path, fsync_policy_t policy, const char *header);
/* Queues a line (copied; it should end with '\n').  0, or -1 when out of
 * memory (the line is lost and counted). */
int       writer_put(writer_t *w, const char *line, size_t len);
/* The file again at its path (after logrotate moved it), between batches. */
void      writer_reopen(writer_t *w);
/* Drains the queue, writes, fsyncs, closes, frees. */
void      writer_close(writer_t *w);

#endif
