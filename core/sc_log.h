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
/* The same for a module's line (sc_instance_log): text "module: msg",
 * JSON a "module" field. */
void sc_log_write_module(sc_log_level_t lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A SIP trace line at info: text the line then the message, JSON the
 * message as its own "sip" field (and a response's "status"). */
void sc_log_trace(const char *sip, size_t sip_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Structured fields of JSON lines: what the logging thread is handling.
 * The server sets them around each message it processes (peer and
 * transport as it arrives, Call-ID, method and status once parsed) and
 * clears them after; every line logged meanwhile, the modules' included,
 * carries them ("where they exist").  Thread-local. */
typedef struct {
    char     call_id[128];
    char     method[32];
    unsigned status;            /* a response's; 0: none */
    char     peer[64];          /* "192.0.2.1:5060", "[2001:db8::1]:5060" */
    char     transport[8];      /* udp, tcp, tls */
} sc_log_fields_t;
void sc_log_context_peer(const char *transport, const char *ip, unsigned port);
void sc_log_context_msg(const char *call_id, size_t call_id_len, const char *method, size_t method_len,
                        unsigned status);
void sc_log_context_clear(void);

#define sc_log(lvl, ...)                     \
    do {                                     \
        if ((lvl) <= sc_log_level)           \
            sc_log_write((lvl), __VA_ARGS__); \
    } while (0)

#endif
