/*
 * store.h — the registrar's bindings: address-of-record -> contacts.
 *
 * In memory (a hash table of AORs, each with its few bindings), with an
 * optional append log on disk (persist.c) that every change goes to
 * before the 200 leaves, replayed at start: a restart loses nothing.
 */
#ifndef REGISTRAR_STORE_H
#define REGISTRAR_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <sipchain.h>

/* A binding and its strings are one allocation (binding_new): 100 000
 * bindings are 100 000 mallocs, not 500 000, and the memory per binding
 * is what Kamailio's is measured against (BENCHMARKS.md). */
typedef struct binding {
    char           *uri;        /* the Contact URI */
    char           *call_id;
    uint32_t        cseq;
    time_t          expires_at; /* wall clock: it survives a restart */
    int             q;          /* thousandths; -1 when not given */
    char           *path;       /* RFC 3327, joined; NULL if none */
    char           *received;   /* "udp:IP:PORT" it registered from */
    char           *instance;   /* RFC 5626 +sip.instance; NULL if none */
    long            reg_id;     /* RFC 5626; -1 if none */
    uint64_t        seq;        /* order of registration: the oldest goes first */
    struct binding *next;
} binding_t;

typedef struct aor {
    binding_t   *bindings;
    int          n;
    struct aor  *next;          /* hash chain */
    char         aor[];
} aor_t;

/* A C string (or NULL) as binding text. */
static inline sc_str_t text_of(const char *s)
{
    return (sc_str_t){ s, s ? strlen(s) : 0 };
}

/* The strings of a binding, copied into it; an empty one is NULL there. */
typedef struct {
    sc_str_t uri, call_id, path, received, instance;
} binding_text_t;

typedef struct persist persist_t;

typedef struct {
    aor_t    **tab;
    size_t     cap, naors, nbindings;
    size_t     cursor;          /* the next bucket store_sweep looks at */
    uint64_t   seq;
    persist_t *log;             /* NULL: memory only */
} store_t;

store_t   *store_new(void);
void       store_free(store_t *s);
aor_t     *store_aor(store_t *s, const char *aor, bool create);
/* Adds b (its strings taken) or replaces the binding with b's URI. */
binding_t *store_put(store_t *s, aor_t *a, binding_t *b);
void       store_remove(store_t *s, aor_t *a, binding_t *b);
/* Drops what expired by now in the next n buckets (wrapping around); an
 * AOR left empty goes too.  Sweeping a slice at a time keeps the loop
 * from stalling on a table of 100 000 AORs (lookups skip expired
 * bindings anyway, so when the sweep gets to them does not matter). */
void       store_sweep(store_t *s, time_t now, size_t n);
/* A binding with tmpl's numbers and copies of text; NULL when out of
 * memory or without a URI. */
binding_t *binding_new(const binding_t *tmpl, const binding_text_t *text);
void       binding_free(binding_t *b);

/* persist.c: open (and replay into s) the log at path; 0 or -1 with err
 * (only when the file cannot be read or written: damaged lines are
 * skipped with a warning through inst). */
int  persist_open(store_t *s, const sc_instance_t *inst, const char *path, bool fsync_each, char *err,
                  size_t errlen);
void persist_close(store_t *s);
/* Writes the log afresh from memory when the file at its path is no
 * longer the one appended to (replaced by another process, moved). */
void persist_check(store_t *s);
/* The log's path, NULL when there is none. */
const char *persist_path(const store_t *s);
/* The log of a live store becomes path (NULL: none), written afresh
 * from the bindings in memory (what the file held is replaced): a
 * reload that adds, moves or drops `persist` keeps every binding.  0,
 * or -1 with err (the log stays as it was). */
int  persist_switch(store_t *s, const sc_instance_t *inst, const char *path, bool fsync_each, char *err,
                    size_t errlen);
/* The instance the log's warnings name (the store outlives instances:
 * the newest that holds it); with unless, only if it named that one. */
void persist_set_inst(store_t *s, const sc_instance_t *inst, const sc_instance_t *unless);
/* Record a binding put / removed (no-ops without a log). */
void persist_put(store_t *s, const aor_t *a, const binding_t *b);
void persist_remove(store_t *s, const aor_t *a, const binding_t *b);

/* admin.c: the "registrations" management resource over *store (the
 * field the instance holds); changed runs after a deletion. */
typedef struct {
    store_t **store;
    void    (*changed)(void *arg);
    void     *arg;
} reg_admin_t;
int  reg_admin_register(sc_instance_t *inst, reg_admin_t *ra);

#endif
