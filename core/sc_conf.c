/* sc_conf.c — YAML to an annotated tree with libyaml's event parser. */
#include "sc_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

int sc_conf_error(char *err, size_t errlen, const sc_conf_node_t *at, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s:%u:%u: ", at->file, at->line, at->col);
    if (n < 0 || (size_t)n >= errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

void sc_conf_free(sc_conf_node_t *n)
{
    while (n) {
        sc_conf_node_t *next = n->next;
        sc_conf_free(n->children);
        free(n->key);
        free(n->value);
        free(n);
        n = next;
    }
}

sc_conf_node_t *sc_conf_get(const sc_conf_node_t *map, const char *key)
{
    if (map == NULL || map->kind != SC_CONF_MAP)
        return NULL;
    for (sc_conf_node_t *c = map->children; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

/* ${VAR} anywhere in a scalar is replaced by the variable's value; an
 * unset variable is an error rather than an empty string, so a missing
 * secret cannot silently become "". */
static char *expand_env(const char *in, const char **missing, char *name, size_t namelen)
{
    size_t cap = strlen(in) + 1, len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (const char *p = in; *p;) {
        const char *close;
        if (p[0] == '$' && p[1] == '{' && (close = strchr(p + 2, '}')) != NULL) {
            size_t nl = (size_t)(close - p - 2);
            if (nl == 0 || nl >= namelen) {
                *missing = "";
                free(out);
                return NULL;
            }
            memcpy(name, p + 2, nl);
            name[nl] = '\0';
            const char *v = getenv(name);
            if (v == NULL) {
                *missing = name;
                free(out);
                return NULL;
            }
            size_t vl = strlen(v);
            cap += vl;
            char *grown = realloc(out, cap);
            if (grown == NULL) {
                free(out);
                return NULL;
            }
            out = grown;
            memcpy(out + len, v, vl);
            len += vl;
            p = close + 1;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    return out;
}

typedef struct {
    yaml_parser_t parser;
    const char   *file;
    char         *err;
    size_t        errlen;
} loader_t;

static sc_conf_node_t *node_new(loader_t *L, sc_conf_kind_t kind, const yaml_mark_t *m)
{
    sc_conf_node_t *n = calloc(1, sizeof(*n));
    if (n) {
        n->kind = kind;
        n->file = L->file;
        n->line = (unsigned)m->line + 1;
        n->col = (unsigned)m->column + 1;
    }
    return n;
}

static int next_event(loader_t *L, yaml_event_t *ev)
{
    if (yaml_parser_parse(&L->parser, ev))
        return 0;
    snprintf(L->err, L->errlen, "%s:%zu:%zu: %s%s%s", L->file,
             L->parser.problem_mark.line + 1, L->parser.problem_mark.column + 1,
             L->parser.problem ? L->parser.problem : "YAML syntax error",
             L->parser.context ? " " : "", L->parser.context ? L->parser.context : "");
    return -1;
}

static int by_key_then_place(const void *a, const void *b)
{
    const sc_conf_node_t *x = *(const sc_conf_node_t *const *)a, *y = *(const sc_conf_node_t *const *)b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->key_line != y->key_line ? (x->key_line < y->key_line ? -1 : 1)
                                      : (x->key_col < y->key_col ? -1 : x->key_col > y->key_col);
}

/* The second occurrence of a key the map has twice, or NULL.  Sorted, not
 * pairwise: a users file of 100 000 names must load in well under a
 * second, not in the half minute n^2/2 comparisons take. */
static const sc_conf_node_t *duplicate_key(const sc_conf_node_t *map)
{
    size_t n = 0;
    for (const sc_conf_node_t *c = map->children; c; c = c->next)
        n++;
    if (n < 2)
        return NULL;
    const sc_conf_node_t **v = malloc(n * sizeof(*v));
    if (v == NULL)
        return NULL;
    n = 0;
    for (const sc_conf_node_t *c = map->children; c; c = c->next)
        v[n++] = c;
    qsort(v, n, sizeof(*v), by_key_then_place);
    const sc_conf_node_t *dup = NULL;
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1]->key, v[i]->key) == 0 &&
            (dup == NULL || v[i]->key_line < dup->key_line ||
             (v[i]->key_line == dup->key_line && v[i]->key_col < dup->key_col)))
            dup = v[i];                 /* the first repeat in the file */
    free(v);
    return dup;
}

/* Builds the node whose first event is ev (consumed).  NULL on error. */
static sc_conf_node_t *build(loader_t *L, yaml_event_t *ev)
{
    sc_conf_node_t *n = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        n = node_new(L, SC_CONF_SCALAR, &ev->start_mark);
        if (n == NULL)
            break;
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        const char *missing = NULL;
        char name[128];
        n->value = expand_env((const char *)ev->data.scalar.value, &missing, name, sizeof(name));
        if (n->value == NULL) {
            if (missing && *missing)
                sc_conf_error(L->err, L->errlen, n, "environment variable ${%s} is not set", missing);
            else if (missing)
                sc_conf_error(L->err, L->errlen, n, "malformed ${...} reference");
            else
                sc_conf_error(L->err, L->errlen, n, "out of memory");
            sc_conf_free(n);
            n = NULL;
        }
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool map = ev->type == YAML_MAPPING_START_EVENT;
        n = node_new(L, map ? SC_CONF_MAP : SC_CONF_SEQ, &ev->start_mark);
        if (n == NULL)
            break;
        sc_conf_node_t **tail = &n->children;
        for (;;) {
            yaml_event_t e;
            if (next_event(L, &e) < 0)
                goto fail;
            if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&e);
                const sc_conf_node_t *dup = map ? duplicate_key(n) : NULL;
                if (dup) {
                    sc_conf_node_t at = { .file = L->file, .line = dup->key_line, .col = dup->key_col };
                    sc_conf_error(L->err, L->errlen, &at, "duplicate key \"%s\"", dup->key);
                    goto fail;
                }
                break;
            }
            char *key = NULL;
            unsigned key_line = 0, key_col = 0;
            if (map) {
                sc_conf_node_t tmp = { .file = L->file, .line = (unsigned)e.start_mark.line + 1,
                                       .col = (unsigned)e.start_mark.column + 1 };
                if (e.type != YAML_SCALAR_EVENT) {
                    sc_conf_error(L->err, L->errlen, &tmp, "mapping keys must be plain strings");
                    yaml_event_delete(&e);
                    goto fail;
                }
                key = strdup((const char *)e.data.scalar.value);
                key_line = tmp.line;
                key_col = tmp.col;
                yaml_event_delete(&e);
                if (next_event(L, &e) < 0) {
                    free(key);
                    goto fail;
                }
            }
            sc_conf_node_t *child = build(L, &e);
            if (child == NULL) {
                free(key);
                goto fail;
            }
            child->key = key;
            if (map) {
                child->key_line = key_line;
                child->key_col = key_col;
            }
            *tail = child;
            tail = &child->next;
        }
        break;
    fail:
        sc_conf_free(n);
        n = NULL;
        break;
    }
    case YAML_ALIAS_EVENT: {
        sc_conf_node_t tmp = { .file = L->file, .line = (unsigned)ev->start_mark.line + 1,
                               .col = (unsigned)ev->start_mark.column + 1 };
        sc_conf_error(L->err, L->errlen, &tmp, "YAML aliases are not supported");
        break;
    }
    default:
        snprintf(L->err, L->errlen, "%s: unexpected YAML event", L->file);
        break;
    }
    yaml_event_delete(ev);
    return n;
}

sc_conf_node_t *sc_conf_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    loader_t L = { .file = path, .err = err, .errlen = errlen };
    yaml_parser_initialize(&L.parser);
    yaml_parser_set_input_file(&L.parser, f);
    sc_conf_node_t *root = NULL;
    yaml_event_t ev;
    /* stream start, document start, the root node, document end */
    for (;;) {
        if (next_event(&L, &ev) < 0)
            goto out;
        if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        break;
    }
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        snprintf(err, errlen, "%s:1:1: the file is empty", path);
        goto out;
    }
    root = build(&L, &ev);
    if (root && root->kind != SC_CONF_MAP) {
        sc_conf_error(err, errlen, root, "the top level must be a mapping");
        sc_conf_free(root);
        root = NULL;
    }
    if (root) {
        if (next_event(&L, &ev) < 0) {
            sc_conf_free(root);
            root = NULL;
            goto out;
        }
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_DOCUMENT_END_EVENT && next_event(&L, &ev) == 0) {
            t = ev.type;
            if (t == YAML_DOCUMENT_START_EVENT) {
                sc_conf_node_t tmp = { .file = path, .line = (unsigned)ev.start_mark.line + 1,
                                       .col = (unsigned)ev.start_mark.column + 1 };
                sc_conf_error(err, errlen, &tmp, "only one YAML document is allowed");
                sc_conf_free(root);
                root = NULL;
            }
            yaml_event_delete(&ev);
        }
    }
out:
    yaml_parser_delete(&L.parser);
    fclose(f);
    return root;
}

int sc_conf_keys_allowed(const sc_conf_node_t *map, const char *const *keys,
                         const char *const *also, char *err, size_t errlen)
{
    if (map->kind != SC_CONF_MAP)
        return sc_conf_error(err, errlen, map, "expected a mapping");
    for (sc_conf_node_t *c = map->children; c; c = c->next) {
        bool ok = false;
        for (const char *const *k = keys; *k && !ok; k++)
            ok = strcmp(*k, c->key) == 0;
        for (const char *const *k = also; k && *k && !ok; k++)
            ok = strcmp(*k, c->key) == 0;
        if (!ok) {
            sc_conf_node_t at = { .file = c->file, .line = c->key_line, .col = c->key_col };
            return sc_conf_error(err, errlen, &at, "unknown key \"%s\"", c->key);
        }
    }
    return 0;
}

int sc_conf_known_keys(const sc_conf_node_t *map, const char *const *keys, char *err,
                       size_t errlen)
{
    return sc_conf_keys_allowed(map, keys, NULL, err, errlen);
}

int sc_conf_string(const sc_conf_node_t *n, const char **out, char *err, size_t errlen)
{
    if (n->kind != SC_CONF_SCALAR)
        return sc_conf_error(err, errlen, n, "\"%s\" must be a string", n->key ? n->key : "value");
    *out = n->value;
    return 0;
}

int sc_conf_uint(const sc_conf_node_t *n, unsigned long max, unsigned long *out, char *err,
                 size_t errlen)
{
    const char *k = n->key ? n->key : "value";
    if (n->kind != SC_CONF_SCALAR || n->value[0] < '0' || n->value[0] > '9')
        return sc_conf_error(err, errlen, n, "\"%s\" must be a whole number", k);
    char *end;
    errno = 0;
    unsigned long v = strtoul(n->value, &end, 10);
    if (*end || errno || v > max)
        return sc_conf_error(err, errlen, n, "\"%s\" must be a whole number from 0 to %lu", k, max);
    *out = v;
    return 0;
}

int sc_conf_bool(const sc_conf_node_t *n, bool *out, char *err, size_t errlen)
{
    if (n->kind == SC_CONF_SCALAR && !n->quoted) {
        if (strcmp(n->value, "true") == 0 || strcmp(n->value, "yes") == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(n->value, "false") == 0 || strcmp(n->value, "no") == 0) {
            *out = false;
            return 0;
        }
    }
    return sc_conf_error(err, errlen, n, "\"%s\" must be true or false", n->key ? n->key : "value");
}
