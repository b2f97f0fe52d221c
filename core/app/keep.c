/*
 * keep.c — module state that outlives a generation (sc_kept).
 *
 * A reload builds a new chain beside the running one; its instances are
 * new, but what they stand for — a registrar's bindings, digest-auth's
 * nonces — must not be lost with the old ones.  So such state is not
 * owned by an instance: it is kept here, by the server, under the link's
 * identity (the module's name and the link's name, or for a link without
 * one which of that module's instances in the chain it is) and a key the module chooses, and counted: each
 * instance that asked for it holds it until its destroy lets go; the
 * object is dropped when nothing holds it any more, that is when the
 * last generation using it is gone and no newer one asked for it.  Old
 * and new generation share it while requests finish on the old one:
 * both run on the one event loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_impl.h"

typedef struct kept {
    char        *key;
    void        *obj;
    void       (*drop)(void *obj);
    unsigned     refs;
    struct kept *next;
} kept_t;

struct sc_keep {
    kept_t *all;
};

sc_keep_t *sc_keep_new(void)
{
    return calloc(1, sizeof(sc_keep_t));
}

void sc_keep_free(sc_keep_t *k)
{
    if (k == NULL)
        return;
    /* at exit every generation has let go, so this is empty; an entry
     * left is a module that never released: its drop may be in a
     * library already closed, so only the entry goes */
    for (kept_t *e = k->all, *n; e; e = n) {
        n = e->next;
        free(e->key);
        free(e);
    }
    free(k);
}

/* The link's identity and the module's key, as one string: a named
 * link is its module and name (moved in the chain, it keeps its state),
 * any other its module and ordinal. */
static void full_key(const sc_instance_t *inst, const char *key, char *out, size_t cap)
{
    const char *mod = inst->mod->name ? inst->mod->name : "module";
    if (inst->named)
        snprintf(out, cap, "%s@%s/%s", mod, inst->name, key);
    else
        snprintf(out, cap, "%s#%d/%s", mod, inst->ordinal, key);
}

void *sc_kept(sc_instance_t *inst, const char *key, void *(*make)(void *arg), void (*drop)(void *obj),
              void *arg)
{
    sc_keep_t *k = inst->chain->keep;
    if (k == NULL)                      /* no server (sipchain -t, tests): plainly owned */
        return make(arg);
    char fk[512];
    full_key(inst, key, fk, sizeof(fk));
    for (kept_t *e = k->all; e; e = e->next)
        if (strcmp(e->key, fk) == 0) {
            e->refs++;
            return e->obj;
        }
    kept_t *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->key = strdup(fk)) == NULL || (e->obj = make(arg)) == NULL) {
        if (e)
            free(e->key);
        free(e);
        return NULL;
    }
    e->drop = drop;
    e->refs = 1;
    e->next = k->all;
    k->all = e;
    return e->obj;
}

bool sc_kept_release(sc_instance_t *inst, const char *key, void *obj, void (*drop)(void *obj))
{
    sc_keep_t *k = inst->chain->keep;
    if (k == NULL) {
        if (obj && drop)
            drop(obj);
        return true;
    }
    char fk[512];
    full_key(inst, key, fk, sizeof(fk));
    for (kept_t **p = &k->all; *p; p = &(*p)->next)
        if (strcmp((*p)->key, fk) == 0) {
            kept_t *e = *p;
            if (--e->refs > 0)
                return false;
            *p = e->next;
            if (e->drop)
                e->drop(e->obj);
            free(e->key);
            free(e);
            return true;
        }
    return false;
}
