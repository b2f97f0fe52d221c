/* json.c — see json.h.  Recursive descent over a bounded depth; every
 * error is a sentence for the log (the answer to the caller is 500). */
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH 32

typedef struct {
    const char *p, *end;
    const char *why;
} cur_t;

static void ws(cur_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static dr_json_t *fail(cur_t *c, const char *why, dr_json_t *j)
{
    if (c->why == NULL)
        c->why = why;
    dr_json_free(j);
    return NULL;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= h - '0';
        else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
        else return -1;
    }
    return v;
}

/* A string at c->p (on its opening quote), unescaped into a new buffer. */
static char *string(cur_t *c)
{
    c->p++;
    char *out = malloc((size_t)(c->end - c->p) + 1), *o = out;
    if (out == NULL) {
        c->why = "out of memory";
        return NULL;
    }
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch < 0x20)              /* raw control characters (NUL too) are not JSON */
            goto bad;
        if (ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        if (c->p >= c->end)
            break;
        char e = *c->p++;
        switch (e) {
        case '"': case '\\': case '/': *o++ = e; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            int v = c->end - c->p >= 4 ? hex4(c->p) : -1;
            if (v < 0)
                goto bad;
            c->p += 4;
            if (v >= 0xd800 && v <= 0xdfff)
                v = '?';            /* surrogates: nothing routing needs */
            if (v < 0x80) {
                *o++ = (char)v;
            } else if (v < 0x800) {
                *o++ = (char)(0xc0 | (v >> 6));
                *o++ = (char)(0x80 | (v & 0x3f));
            } else {
                *o++ = (char)(0xe0 | (v >> 12));
                *o++ = (char)(0x80 | ((v >> 6) & 0x3f));
                *o++ = (char)(0x80 | (v & 0x3f));
            }
            break;
        }
        default:
            goto bad;
        }
    }
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        *o = '\0';
        return out;
    }
bad:
    free(out);
    c->why = "a string is not terminated or has a bad escape";
    return NULL;
}

static dr_json_t *value(cur_t *c, int depth)
{
    ws(c);
    if (c->p >= c->end)
        return fail(c, "unexpected end", NULL);
    if (depth > MAX_DEPTH)
        return fail(c, "nested too deeply", NULL);
    dr_json_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return fail(c, "out of memory", NULL);
    char ch = *c->p;
    if (ch == '{' || ch == '[') {
        j->type = ch == '{' ? DJ_OBJ : DJ_ARR;
        char close = ch == '{' ? '}' : ']';
        c->p++;
        ws(c);
        dr_json_t **tail = &j->child;
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return j;
        }
        for (;;) {
            char *key = NULL;
            if (j->type == DJ_OBJ) {
                ws(c);
                if (c->p >= c->end || *c->p != '"')
                    return fail(c, "an object member without a quoted name", j);
                if ((key = string(c)) == NULL)
                    return fail(c, NULL, j);
                ws(c);
                if (c->p >= c->end || *c->p != ':') {
                    free(key);
                    return fail(c, "a member name without ':'", j);
                }
                c->p++;
            }
            dr_json_t *v = value(c, depth + 1);
            if (v == NULL) {
                free(key);
                return fail(c, NULL, j);
            }
            v->key = key;
            *tail = v;
            tail = &v->next;
            ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            if (c->p < c->end && *c->p == close) {
                c->p++;
                return j;
            }
            return fail(c, "expected ',' or the closing bracket", j);
        }
    }
    if (ch == '"') {
        j->type = DJ_STR;
        if ((j->str = string(c)) == NULL)
            return fail(c, NULL, j);
        return j;
    }
    static const struct { const char *w; int type; bool b; } words[] = {
        { "true", DJ_BOOL, true }, { "false", DJ_BOOL, false }, { "null", DJ_NULL, false },
    };
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].w);
        if ((size_t)(c->end - c->p) >= n && memcmp(c->p, words[i].w, n) == 0) {
            c->p += n;
            j->type = words[i].type;
            j->b = words[i].b;
            return j;
        }
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        char buf[64];
        size_t n = 0;
        while (c->p + n < c->end && n < sizeof(buf) - 1 && c->p[n] && strchr("+-.eE0123456789", c->p[n]))
            n++;
        memcpy(buf, c->p, n);
        buf[n] = '\0';
        char *e;
        j->num = strtod(buf, &e);
        if (e != buf + n)
            return fail(c, "a malformed number", j);
        c->p += n;
        j->type = DJ_NUM;
        return j;
    }
    return fail(c, "an unexpected character", j);
}

dr_json_t *dr_json_parse(const char *s, size_t len, const char **why)
{
    cur_t c = { s, s + len, NULL };
    dr_json_t *j = value(&c, 0);
    if (j) {
        ws(&c);
        if (c.p != c.end)
            j = fail(&c, "text after the document", j);
    }
    if (j == NULL && why)
        *why = c.why ? c.why : "invalid";
    return j;
}

void dr_json_free(dr_json_t *j)
{
    while (j) {
        dr_json_t *next = j->next;
        dr_json_free(j->child);
        free(j->key);
        free(j->str);
        free(j);
        j = next;
    }
}

const dr_json_t *dr_json_get(const dr_json_t *j, const char *key)
{
    if (j == NULL || j->type != DJ_OBJ)
        return NULL;
    for (const dr_json_t *m = j->child; m; m = m->next)
        if (m->key && strcmp(m->key, key) == 0)
            return m;
    return NULL;
}
