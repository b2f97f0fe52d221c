/*
 * sc_conf.h — the YAML configuration as a tree of nodes, each knowing the
 * file, line and column it came from, so that every error can name them
 * (DESIGN §5).  Values of the form ${VAR} are read from the environment
 * at load time (for secrets).
 *
 * Ownership: sc_conf_load returns a tree owned by the caller and freed
 * with sc_conf_free; every string in it belongs to the tree.
 */
#ifndef SC_CONF_H
#define SC_CONF_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { SC_CONF_SCALAR, SC_CONF_SEQ, SC_CONF_MAP } sc_conf_kind_t;

typedef struct sc_conf_node {
    sc_conf_kind_t       kind;
    const char          *file;
    unsigned             line, col;     /* 1-based */
    char                *key;           /* set on the children of a map */
    unsigned             key_line, key_col;
    char                *value;         /* scalars */
    bool                 quoted;        /* scalar written in quotes */
    struct sc_conf_node *children;
    struct sc_conf_node *next;
} sc_conf_node_t;

/* Loads a whole file.  On error returns NULL and writes
 * "file:line:col: what" into err. */
sc_conf_node_t *sc_conf_load(const char *path, char *err, size_t errlen);
void            sc_conf_free(sc_conf_node_t *root);

/* The child of a map with that key, or NULL. */
sc_conf_node_t *sc_conf_get(const sc_conf_node_t *map, const char *key);

/* Writes "file:line:col: message" into err; returns -1 for convenience. */
int sc_conf_error(char *err, size_t errlen, const sc_conf_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks that every key of map is one of the NULL-terminated list (or of
 * also, a second list that may be NULL). */
int sc_conf_known_keys(const sc_conf_node_t *map, const char *const *keys, char *err,
                       size_t errlen);
int sc_conf_keys_allowed(const sc_conf_node_t *map, const char *const *keys,
                         const char *const *also, char *err, size_t errlen);

/* Typed readers: each checks the node's kind and format and reports an
 * error at the node when it does not fit. */
int sc_conf_string(const sc_conf_node_t *n, const char **out, char *err, size_t errlen);
int sc_conf_uint(const sc_conf_node_t *n, unsigned long max, unsigned long *out, char *err,
                 size_t errlen);
int sc_conf_bool(const sc_conf_node_t *n, bool *out, char *err, size_t errlen);

#endif
