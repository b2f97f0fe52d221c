/*
 * sipmsg.c — applications' SIP messages (see sipmsg.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sipmsg.h"

static sc_str_t trim(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    return (sc_str_t){ s, (size_t)(e - s) };
}

/* The next line of [*p, end) without its CR LF; false at the end. */
static bool next_line(const char **p, const char *end, const char **ls, const char **le)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *ls = *p;
    *le = nl ? nl : end;
    if (*le > *ls && (*le)[-1] == '\r')
        (*le)--;
    *p = nl ? nl + 1 : end;
    return true;
}

int dr_msg_parse(sc_str_t text, dr_msg_t *m, const char **why)
{
    memset(m, 0, sizeof(*m));
    const char *p = text.s, *end = text.s + text.len, *ls, *le;
    if (!next_line(&p, end, &ls, &le) || le == ls) {
        *why = "no start line";
        return -1;
    }
    sc_str_t start = trim(ls, le);
    if (start.len > 8 && memcmp(start.s, "SIP/2.0 ", 8) == 0) {
        const char *s = start.s + 8, *e = start.s + start.len;
        unsigned st = 0;
        int digits = 0;
        while (s < e && isdigit((unsigned char)*s) && digits < 3) {
            st = st * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits != 3 || st < 100 || st > 699) {
            *why = "bad status line";
            return -1;
        }
        m->status = st;
        m->reason = trim(s, e);
    } else {
        const char *sp1 = memchr(start.s, ' ', start.len);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(start.s + start.len - sp1 - 1)) : NULL;
        if (sp1 == NULL || sp2 == NULL || sp1 == start.s || sp2 == sp1 + 1) {
            *why = "bad request line";
            return -1;
        }
        m->is_request = true;
        m->method = (sc_str_t){ start.s, (size_t)(sp1 - start.s) };
        m->uri = (sc_str_t){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
    }
    while (next_line(&p, end, &ls, &le)) {
        if (le == ls)
            break;                              /* the blank line */
        if ((*ls == ' ' || *ls == '\t') && m->nhdr) {  /* folded: joins the last */
            dr_hdr_t *h = &m->hdr[m->nhdr - 1];
            h->value.len = (size_t)(le - h->value.s);
            continue;
        }
        const char *colon = memchr(ls, ':', (size_t)(le - ls));
        if (colon == NULL)
            continue;                           /* not a header: dropped */
        if (m->nhdr == DR_MAX_HDRS) {
            *why = "too many headers";
            return -1;
        }
        m->hdr[m->nhdr++] = (dr_hdr_t){ trim(ls, colon), trim(colon + 1, le) };
    }
    m->body = (sc_str_t){ p, (size_t)(end - p) };
    return 0;
}

static const struct {
    char        compact;
    const char *name;
} compact[] = {
    { 'i', "call-id" }, { 'f', "from" }, { 't', "to" }, { 'm', "contact" }, { 'v', "via" },
    { 'l', "content-length" }, { 'c', "content-type" }, { 'k', "supported" }, { 's', "subject" },
    { 'e', "content-encoding" }, { 'o', "event" }, { 'r', "refer-to" }, { 'x', "session-expires" },
};

/* The long form of a header name, lower case, into buf. */
static const char *long_name(sc_str_t n, char *buf, size_t cap)
{
    if (n.len == 1)
        for (size_t i = 0; i < sizeof(compact) / sizeof(compact[0]); i++)
            if (tolower((unsigned char)n.s[0]) == compact[i].compact)
                return compact[i].name;
    size_t k = n.len < cap - 1 ? n.len : cap - 1;
    for (size_t i = 0; i < k; i++)
        buf[i] = (char)tolower((unsigned char)n.s[i]);
    buf[k] = '\0';
    return buf;
}

sc_str_t dr_msg_get(const dr_msg_t *m, const char *name)
{
    char buf[64];
    for (int i = 0; i < m->nhdr; i++)
        if (strcasecmp(long_name(m->hdr[i].name, buf, sizeof(buf)), name) == 0)
            return m->hdr[i].value;
    return (sc_str_t){ NULL, 0 };
}

static bool is_token(sc_str_t n)
{
    if (n.len == 0)
        return false;
    for (size_t i = 0; i < n.len; i++)
        if (!isalnum((unsigned char)n.s[i]) && !strchr("-.!%*_+`'~", n.s[i]))
            return false;
    return true;
}

static bool listed(const char *name, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(name, *list) == 0)
            return true;
    return false;
}

/* The value with "@localhost[:port]" made "@" + local. */
static char *localized(sc_str_t v, const char *local)
{
    static const char key[] = "@localhost";
    const char *at = NULL;
    for (size_t i = 0; local && i + sizeof(key) - 1 <= v.len; i++)
        if (strncasecmp(v.s + i, key, sizeof(key) - 1) == 0) {
            at = v.s + i;
            break;
        }
    if (at == NULL) {
        char *s = malloc(v.len + 1);
        if (s) {
            memcpy(s, v.s, v.len);
            s[v.len] = '\0';
        }
        return s;
    }
    const char *rest = at + sizeof(key) - 1, *end = v.s + v.len;
    if (rest < end && *rest == ':')         /* the app's port goes too */
        while (++rest < end && isdigit((unsigned char)*rest))
            ;
    size_t n = (size_t)(at - v.s) + 1 + strlen(local) + (size_t)(end - rest);
    char *s = malloc(n + 1);
    if (s)
        snprintf(s, n + 1, "%.*s@%s%.*s", (int)(at - v.s), v.s, local, (int)(end - rest), rest);
    return s;
}

char **dr_msg_lines(const dr_msg_t *m, const char *const *skip, const char *local)
{
    static const char *const owned[] = { "via", "route", "record-route", "rseq", "content-length",
                                         "content-type", NULL };
    static const char *const local_ok[] = { "from", "to", "contact", "p-asserted-identity", NULL };
    char **lines = calloc((size_t)m->nhdr + 1, sizeof(*lines));
    if (lines == NULL)
        return NULL;
    int n = 0;
    for (int i = 0; i < m->nhdr; i++) {
        char buf[64];
        const dr_hdr_t *h = &m->hdr[i];
        const char *ln = long_name(h->name, buf, sizeof(buf));
        if (!is_token(h->name) || h->name.len >= sizeof(buf) || listed(ln, owned) || listed(ln, skip))
            continue;
        char *v = localized(h->value, listed(ln, local_ok) ? local : NULL);
        char *line = v ? malloc(h->name.len + strlen(ln) + 2 + strlen(v) + 1) : NULL;
        if (line == NULL) {
            free(v);
            dr_lines_free(lines);
            return NULL;
        }
        /* a name as the app wrote it, unless drachtio-srf lower-cased it:
         * then the usual case (Call-ID, CSeq, a capital after each dash) */
        bool lower = true;
        for (size_t k = 0; k < h->name.len; k++)
            lower &= !isupper((unsigned char)h->name.s[k]);
        if (!lower || h->name.len == 1)
            snprintf(line, h->name.len + 1, "%.*s", (int)h->name.len, h->name.s);
        else if (strcmp(ln, "call-id") == 0)
            strcpy(line, "Call-ID");
        else if (strcmp(ln, "cseq") == 0)
            strcpy(line, "CSeq");
        else if (strcmp(ln, "www-authenticate") == 0)
            strcpy(line, "WWW-Authenticate");
        else
            for (size_t k = 0; k <= strlen(ln); k++)
                line[k] = k == 0 || ln[k - 1] == '-' ? (char)toupper((unsigned char)ln[k]) : ln[k];
        strcat(line, ": ");
        strcat(line, v);
        free(v);
        lines[n++] = line;
    }
    return lines;
}

void dr_lines_free(char **lines)
{
    for (char **l = lines; l && *l; l++)
        free(*l);
    free(lines);
}

const char *dr_msg_ctype(const dr_msg_t *m, char *buf, size_t cap)
{
    sc_str_t ct = dr_msg_get(m, "content-type");
    if (ct.len) {
        snprintf(buf, cap, "%.*s", (int)ct.len, ct.s);
        return buf;
    }
    if (m->body.len >= 3 && memcmp(m->body.s, "v=0", 3) == 0)
        return "application/sdp";
    return NULL;
}
