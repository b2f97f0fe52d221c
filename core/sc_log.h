/* sc_log.h — logging to stderr (systemd captures it).  Levels filter at
 * the call site so a disabled debug line costs one comparison. */
#ifndef SC_LOG_H
#define SC_LOG_H

typedef enum { SC_LOG_ERROR, SC_LOG_WARN, SC_LOG_INFO, SC_LOG_DEBUG } sc_log_level_t;

extern sc_log_level_t sc_log_level;

/* "error", "warn", "info", "debug"; returns -1 for anything else. */
int  sc_log_level_parse(const char *name);
void sc_log_write(sc_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sc_log(lvl, ...)                     \
    do {                                     \
        if ((lvl) <= sc_log_level)           \
            sc_log_write((lvl), __VA_ARGS__); \
    } while (0)

#endif
