/*
 * users.c — the users file (users.h) in a hash table by name.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "users.h"

typedef struct user {
    char        *name, *password;
    char         ha1[65], ha1_sha256[65];      /* "" when not given */
    struct user *next;
} user_t;

struct users {
    sc_credentials_api_t api;       /* first: the service is this struct */
    user_t             **tab;
    size_t               cap, n;
};

static size_t slot(const users_t *u, const char *name)
{
    uint64_t h = 1469598103934665603ull;
    while (*name)
        h = (h ^ (unsigned char)*name++) * 1099511628211ull;
    return (size_t)(h & (u->cap - 1));
}

static const user_t *find(const users_t *u, const char *name)
{
    for (const user_t *x = u->tab[slot(u, name)]; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return x;
    return NULL;
}

static int ha1(const sc_credentials_api_t *api, const char *user, const char *realm, const char *alg,
               char *out)
{
    const users_t *u = (const users_t *)api;
    const user_t *x = find(u, user);
    if (x == NULL)
        return -1;
    if (x->password) {
        sc_str_t parts[3] = { { user, strlen(user) }, { realm, strlen(realm) },
                              { x->password, strlen(x->password) } };
        return sc_digest_hash(alg, parts, 3, out);
    }
    const char *h = strcasecmp(alg, "SHA-256") == 0 ? x->ha1_sha256 : strcasecmp(alg, "MD5") == 0 ? x->ha1 : "";
    if (h[0] == '\0')
        return -1;
    memcpy(out, h, strlen(h) + 1);
    return 0;
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || ((*s | 32) >= 'a' && (*s | 32) <= 'f')))
            return false;
    return true;
}

static void free_user(user_t *x)
{
    if (x->password)                    /* do not leave it in freed memory */
        memset(x->password, 0, strlen(x->password));
    free(x->password);
    free(x->name);
    free(x);
}

void users_free(users_t *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->cap; i++)
        for (user_t *x = u->tab[i], *nx; x; x = nx) {
            nx = x->next;
            free_user(x);
        }
    free(u->tab);
    free(u);
}

size_t users_count(const users_t *u) { return u->n; }
const sc_credentials_api_t *users_api(users_t *u) { return &u->api; }

/* One user's entry; 0 or -1 with err. */
static int add_user(users_t *u, const sc_conf_node_t *e, int *plain, char *err, size_t errlen)
{
    static const char *const keys[] = { "password", "ha1", "ha1_sha256", NULL };
    const char *name = sc_conf_key(e);
    if (sc_conf_check_keys(e, keys, err, errlen))
        return -1;
    if (find(u, name))
        return sc_conf_error(err, errlen, e, "user \"%s\" appears twice", name);
    const char *pw = NULL, *h1 = NULL, *h2 = NULL;
    const sc_conf_node_t *n;
    if (((n = sc_conf_get(e, "password")) && sc_conf_string(n, &pw, err, errlen)) ||
        ((n = sc_conf_get(e, "ha1")) && sc_conf_string(n, &h1, err, errlen)) ||
        ((n = sc_conf_get(e, "ha1_sha256")) && sc_conf_string(n, &h2, err, errlen)))
        return -1;
    if (!pw && !h1 && !h2)
        return sc_conf_error(err, errlen, e, "user \"%s\" needs password, ha1 or ha1_sha256", name);
    if (h1 && !is_hex(h1, 32))
        return sc_conf_error(err, errlen, sc_conf_get(e, "ha1"), "ha1 must be 32 hex digits (MD5)");
    if (h2 && !is_hex(h2, 64))
        return sc_conf_error(err, errlen, sc_conf_get(e, "ha1_sha256"), "ha1_sha256 must be 64 hex digits");
    user_t *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->name = strdup(name)) == NULL || (pw && (x->password = strdup(pw)) == NULL)) {
        if (x)
            free_user(x);
        return sc_conf_error(err, errlen, e, "out of memory");
    }
    for (size_t i = 0; h1 && i <= 32; i++)
        x->ha1[i] = (char)(h1[i] >= 'A' && h1[i] <= 'F' ? h1[i] + 32 : h1[i]);
    for (size_t i = 0; h2 && i <= 64; i++)
        x->ha1_sha256[i] = (char)(h2[i] >= 'A' && h2[i] <= 'F' ? h2[i] + 32 : h2[i]);
    *plain += pw != NULL;
    size_t at = slot(u, name);
    x->next = u->tab[at];
    u->tab[at] = x;
    u->n++;
    return 0;
}

users_t *users_load(const char *path, int *plain, char *err, size_t errlen)
{
    sc_conf_node_t *root = sc_conf_load(path, err, errlen);
    if (root == NULL)
        return NULL;
    users_t *u = calloc(1, sizeof(*u));
    size_t n = 0;
    for (const sc_conf_node_t *e = sc_conf_first(root); e; e = sc_conf_next(e))
        n++;
    *plain = 0;
    int rc = u ? 0 : -1;
    if (u) {
        u->api.ha1 = ha1;
        for (u->cap = 64; u->cap < n; u->cap *= 2)
            ;
        rc = (u->tab = calloc(u->cap, sizeof(*u->tab))) ? 0 : -1;
    }
    for (const sc_conf_node_t *e = sc_conf_first(root); e && rc == 0; e = sc_conf_next(e)) {
        if (sc_conf_key(e) == NULL) {
            rc = sc_conf_error(err, errlen, e, "a users file is a map of user name to { password | ha1 | ha1_sha256 }");
            break;
        }
        rc = add_user(u, e, plain, err, errlen);
    }
    sc_conf_free(root);
    if (rc != 0) {
        if (u && err[0] == '\0')
            snprintf(err, errlen, "%s: out of memory", path);
        users_free(u);
        return NULL;
    }
    return u;
}
