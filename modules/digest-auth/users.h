/*
 * users.h — the built-in credentials store: a YAML file of
 *   alice: { password: "secret" }          # HA1 computed per realm (warned)
 *   bob:   { ha1: "<hex MD5 of bob:realm:password>", ha1_sha256: "<hex>" }
 * read at config load (so SIGHUP reloads it with the config), served as
 * the "credentials" service.
 */
#ifndef DA_USERS_H
#define DA_USERS_H

#include <sipchain.h>

typedef struct users users_t;

/* Loads path; NULL with "file:line:col: why" in err.  *plain counts the
 * users with a plaintext password. */
users_t *users_load(const char *path, int *plain, char *err, size_t errlen);
void     users_free(users_t *u);
size_t   users_count(const users_t *u);
/* The credentials service over u. */
const sc_credentials_api_t *users_api(users_t *u);

#endif
