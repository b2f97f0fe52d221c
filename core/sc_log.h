/*
 * sc_log.h — logging.  Lines go to stderr (systemd captures it), a file,
 * or syslog, as text or JSON lines.  The event loop never waits for the
 * log: a line is copied into a bounded queue that a writer thread drains;
 * when the queue is full the line is dropped and counted, and the count
 * is logged once there is room again.
 */
#ifndef SC_LOG_H
#define SC_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { SC_LOG_ERROR, SC_LOG_WARN, SC_LOG_INFO, SC_LOG_DEBUG } sc_log_level_t;

typedef enum { SC_LOG_TO_STDERR, SC_LOG_TO_FILE, SC_LOG_TO_SYSLOG } sc_log_target_t;

typedef struct {
    sc_log_level_t  level;
    sc_log_target_t target;
    const char     *file;       /* SC_LOG_TO_FILE */
    bool            json;
    bool            sip_trace;  /* every message received and sent, at info */
} sc_log_conf_t;

extern sc_log_level_t sc_log_level;
extern bool           sc_log_sip_trace;

/* "error", "warn", "info", "debug"; returns -1 for anything else. */
int  sc_log_level_parse(const char *name);
/* Switches to conf (start and reload); starts the writer thread.  -1 with
 * the reason in err when the file cannot be opened (nothing changes). */
int  sc_log_configure(const sc_log_conf_t *conf, char *err, size_t errlen);
/* Reopens the log file (SIGUSR1, for logrotate). */
void sc_log_reopen(void);
/* Writes out everything queued and stops the writer (at exit). */
void sc_log_shutdown(void);

void sc_log_write(sc_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sc_log(lvl, ...)                     \
    do {                                     \
        if ((lvl) <= sc_log_level)           \
            sc_log_write((lvl), __VA_ARGS__); \
    } while (0)

#endif
