/* sc_json.c — see sc_json.h. */
#include "sc_json.h"

#include <stdbool.h>
#include <string.h>

void sc_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* --- reading: a flat object ---------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* A JSON string at p (the quote): its raw contents in *s (escapes left,
 * but \" does not end it); past the closing quote, or NULL. */
static const char *read_string(const char *p, const char *end, const char **s, size_t *len)
{
    if (p >= end || *p != '"')
        return NULL;
    *s = ++p;
    while (p < end && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\' && ++p == end)
            return NULL;
        p++;
    }
    if (p >= end)
        return NULL;
    *len = (size_t)(p - *s);
    return p + 1;
}

static const char *read_scalar(const char *p, const char *end)
{
    static const char *const words[] = { "true", "false", "null" };
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(end - p) >= n && memcmp(p, words[i], n) == 0)
            return p + n;
    }
    const char *q = p;
    if (q < end && *q == '-')
        q++;
    while (q < end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
                       *q == '+' || *q == '-'))
        q++;
    return q > p && (q[-1] >= '0' && q[-1] <= '9') ? q : NULL;
}

int sc_json_field(const char *body, size_t len, const char *key, char *out, size_t cap, char *err,
                  size_t errlen)
{
    const char *p = skip_ws(body, body + len), *end = body + len;
    bool found = false;
    if (p >= end || *p != '{')
        return snprintf(err, errlen, "the body is not a JSON object"), -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        p++;
    else
        for (;;) {
            const char *k, *v;
            size_t klen, vlen;
            const char *at = p;
            if ((p = read_string(p, end, &k, &klen)) == NULL)
                return snprintf(err, errlen, "bad JSON: a member name expected at offset %zu",
                                (size_t)(at - body)), -1;
            p = skip_ws(p, end);
            if (p >= end || *p != ':')
                return snprintf(err, errlen, "bad JSON: ':' expected after \"%.*s\"", (int)klen, k), -1;
            p = skip_ws(p + 1, end);
            const char *after = p < end && *p == '"' ? read_string(p, end, &v, &vlen) : read_scalar(p, end);
            if (after == NULL)
                return snprintf(err, errlen, "bad JSON: the value of \"%.*s\" is not a string, number, "
                                "true, false or null", (int)klen, k), -1;
            if (klen == strlen(key) && memcmp(k, key, klen) == 0) {
                if (*p != '"')
                    return snprintf(err, errlen, "\"%s\" must be a string", key), -1;
                if (memchr(v, '\\', vlen) || vlen >= cap)
                    return snprintf(err, errlen, "\"%s\" is too long or escaped", key), -1;
                memcpy(out, v, vlen);
                out[vlen] = '\0';
                found = true;
            }
            p = skip_ws(after, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return snprintf(err, errlen, "bad JSON: ',' or '}' expected after \"%.*s\"", (int)klen, k), -1;
        }
    if (skip_ws(p, end) != end)
        return snprintf(err, errlen, "bad JSON: text after the object"), -1;
    if (!found)
        return snprintf(err, errlen, "the object has no \"%s\"", key), 1;
    return 0;
}
