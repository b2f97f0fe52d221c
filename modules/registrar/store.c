/*
 * store.c — the bindings in memory (store.h).  A handful of bindings per
 * AOR, so each AOR keeps a plain list; AORs are in a chained hash table
 * that doubles when it fills.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "store.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;            /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

store_t *store_new(void)
{
    store_t *s = calloc(1, sizeof(*s));
    if (s && (s->tab = calloc(s->cap = 1024, sizeof(*s->tab))) == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

static char *put(char **at, sc_str_t v)
{
    if (v.len == 0)
        return NULL;
    char *s = memcpy(*at, v.s, v.len);
    s[v.len] = '\0';
    *at += v.len + 1;
    return s;
}

binding_t *binding_new(const binding_t *tmpl, const binding_text_t *t)
{
    if (t->uri.len == 0)
        return NULL;
    size_t n = sizeof(binding_t) + t->uri.len + t->call_id.len + t->path.len + t->received.len +
               t->instance.len + 5;
    binding_t *b = malloc(n);
    if (b == NULL)
        return NULL;
    *b = *tmpl;
    b->next = NULL;
    char *at = (char *)(b + 1);
    b->uri = put(&at, t->uri);
    b->call_id = put(&at, t->call_id);
    b->path = put(&at, t->path);
    b->received = put(&at, t->received);
    b->instance = put(&at, t->instance);
    return b;
}

void binding_free(binding_t *b)
{
    free(b);
}

static void aor_free(aor_t *a)
{
    for (binding_t *b = a->bindings, *n; b; b = n) {
        n = b->next;
        binding_free(b);
    }
    free(a);
}

void store_free(store_t *s)
{
    if (s == NULL)
        return;
    persist_close(s);
    for (size_t i = 0; i < s->cap; i++)
        for (aor_t *a = s->tab[i], *n; a; a = n) {
            n = a->next;
            aor_free(a);
        }
    free(s->tab);
    free(s);
}

static void grow(store_t *s)
{
    size_t cap = s->cap * 2;
    aor_t **tab = calloc(cap, sizeof(*tab));
    if (tab == NULL)
        return;                 /* longer chains, still correct */
    for (size_t i = 0; i < s->cap; i++)
        for (aor_t *a = s->tab[i], *n; a; a = n) {
            n = a->next;
            size_t at = hash(a->aor) & (cap - 1);
            a->next = tab[at];
            tab[at] = a;
        }
    free(s->tab);
    s->tab = tab;
    s->cap = cap;
}

aor_t *store_aor(store_t *s, const char *aor, bool create)
{
    size_t at = hash(aor) & (s->cap - 1);
    for (aor_t *a = s->tab[at]; a; a = a->next)
        if (strcmp(a->aor, aor) == 0)
            return a;
    if (!create)
        return NULL;
    size_t len = strlen(aor);
    aor_t *a = malloc(sizeof(*a) + len + 1);
    if (a == NULL)
        return NULL;
    *a = (aor_t){ 0 };
    memcpy(a->aor, aor, len + 1);
    a->next = s->tab[at];
    s->tab[at] = a;
    if (++s->naors > s->cap)
        grow(s);
    return a;
}

static void aor_drop(store_t *s, aor_t *a)
{
    aor_t **pp = &s->tab[hash(a->aor) & (s->cap - 1)];
    while (*pp != a)
        pp = &(*pp)->next;
    *pp = a->next;
    s->naors--;
    aor_free(a);
}

binding_t *store_put(store_t *s, aor_t *a, binding_t *b)
{
    b->seq = ++s->seq;
    for (binding_t **pp = &a->bindings; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->uri, b->uri) == 0) {
            b->next = (*pp)->next;
            binding_free(*pp);
            *pp = b;
            return b;
        }
    b->next = a->bindings;
    a->bindings = b;
    a->n++;
    s->nbindings++;
    return b;
}

void store_remove(store_t *s, aor_t *a, binding_t *b)
{
    for (binding_t **pp = &a->bindings; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            binding_free(b);
            a->n--;
            s->nbindings--;
            break;
        }
    if (a->n == 0)
        aor_drop(s, a);
}

void store_sweep(store_t *s, time_t now, size_t n)
{
    for (size_t k = 0; k < n && k < s->cap; k++) {
        size_t i = s->cursor++ & (s->cap - 1);
        for (aor_t *a = s->tab[i], *na; a; a = na) {
            na = a->next;
            for (binding_t *b = a->bindings, *nb; b; b = nb) {
                nb = b->next;
                if (b->expires_at <= now) {
                    persist_remove(s, a, b);
                    store_remove(s, a, b);      /* may free a: last one */
                    if (nb == NULL)
                        break;
                }
            }
        }
    }
}
