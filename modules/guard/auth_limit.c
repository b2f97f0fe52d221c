/* auth_limit.c — failed authentications per source and per user (the
 * auth:failure / auth:success events of digest-auth, sipchain.h).
 *
 * More than auth_failures failures from one source, or auth_user_failures
 * for one user name, within auth_window seconds block that source / user
 * for auth_block_time, doubled at each further block up to
 * auth_max_block_time (exponential backoff: a patient brute force gets a
 * handful of guesses an hour); auth_max_block_time without a failure
 * after the last block forgets the backoff.  A user name is counted whether it exists
 * or not (digest-auth reports both alike), so the block of an unknown
 * user and of a known one are the same on the wire.  A success clears
 * that user's count and backoff, not the source's: a source that owns
 * one account cannot launder its guesses at others with it.
 *
 * Users are kept under an HMAC of "user\0realm" with a per-instance key:
 * fixed-size keys, whatever length names an attacker invents. */
#include <stdio.h>
#include <string.h>

#include "guard.h"


void guard_user_key(const guard_t *g, sc_str_t user, sc_str_t realm, uint8_t key[KEY_LEN])
{
    unsigned char mac[32], buf[512];
    size_t n = 0;
    if (user.len + realm.len + 1 <= sizeof(buf)) {
        memcpy(buf, user.s, user.len);
        buf[user.len] = 0;
        memcpy(buf + user.len + 1, realm.s, realm.len);
        n = user.len + 1 + realm.len;
    } else {                            /* a name that long: its hash stands for it */
        sc_hmac_sha256(g->st->user_key, sizeof(g->st->user_key), user.s, user.len, buf);
        n = 32;
    }
    sc_hmac_sha256(g->st->user_key, sizeof(g->st->user_key), buf, n, mac);
    key[0] = 'u';
    memcpy(key + 1, mac, KEY_LEN - 1);
}

/* for the log: the name as sent, printable characters only */
static void user_name(char *out, size_t cap, const char *user, const char *realm)
{
    snprintf(out, cap, "%s@%s", user, realm);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
}

/* One failure on e: blocked when it makes max within the window. */
static void failed(guard_t *g, entry_t *e, bool user, uint32_t max, uint64_t now)
{
    if (max == 0 || guard_is_blocked(g, e, now))
        return;
    if (e->failures == 0 || now - e->window_ms >= (uint64_t)g->conf.auth_window_s * 1000) {
        e->failures = 0;
        e->window_ms = now;
        /* a quiet spell as long as the longest block forgets the backoff */
        if (e->level && now >= e->until_ms + (uint64_t)g->conf.auth_max_block_time_s * 1000)
            e->level = 0;
    }
    if (++e->failures < max)
        return;
    uint64_t t = g->conf.auth_block_time_s;
    for (uint32_t i = 0; i < e->level && t < g->conf.auth_max_block_time_s; i++)
        t *= 2;
    if (t > g->conf.auth_max_block_time_s)
        t = g->conf.auth_max_block_time_s;
    e->level++;
    e->failures = 0;
    guard_block(g, e, user, BLOCK_AUTH, (uint32_t)t, now);
}

static void on_failure(const char *event, const void *data, void *arg)
{
    guard_t *g = arg;
    g->st->owner = g;
    const sc_auth_event_t *ev = data;
    (void)event;
    uint64_t now = guard_now_ms();
    addr_t a;
    uint8_t key[KEY_LEN];
    if (g->conf.auth_failures && addr_parse(ev->source_ip, &a) == 0 &&
        !cidr_list_match(&g->conf.trusted, &a)) {
        failed(g, guard_source(g, &a, now), false, g->conf.auth_failures, now);
    }
    if (g->conf.auth_user_failures) {
        guard_user_key(g, (sc_str_t){ ev->user, strlen(ev->user) }, (sc_str_t){ ev->realm, strlen(ev->realm) }, key);
        entry_t *e = table_find(g->st->users, key);
        if (e == NULL) {
            e = table_add(g->st->users, key);
            user_name(e->name, sizeof(e->name), ev->user, ev->realm);
        }
        failed(g, e, true, g->conf.auth_user_failures, now);
    }
}

static void on_success(const char *event, const void *data, void *arg)
{
    guard_t *g = arg;
    g->st->owner = g;
    const sc_auth_event_t *ev = data;
    (void)event;
    uint8_t key[KEY_LEN];
    guard_user_key(g, (sc_str_t){ ev->user, strlen(ev->user) }, (sc_str_t){ ev->realm, strlen(ev->realm) }, key);
    entry_t *e = table_find(g->st->users, key);
    if (e && e->reason == BLOCK_NONE) {
        e->failures = 0;
        e->level = 0;
    }
}

int guard_auth_subscribe(guard_t *g)
{
    if (sc_event_subscribe(g->inst, SC_AUTH_FAILURE_EVENT, on_failure, g) != 0 ||
        sc_event_subscribe(g->inst, SC_AUTH_SUCCESS_EVENT, on_success, g) != 0)
        return -1;
    return 0;
}

/* Credentials in Authorization or Proxy-Authorization, any realm. */
bool guard_user_blocked(guard_t *g, const sc_req_t *req, uint64_t now)
{
    sc_digest_creds_t c;
    if (g->st->nblocked_users == 0)
        return false;                   /* the common case: no HMAC at all */
    if (g->conf.auth_user_failures == 0 || (sc_req_digest(req, false, NULL, &c) != 0 &&
                                            sc_req_digest(req, true, NULL, &c) != 0))
        return false;
    uint8_t key[KEY_LEN];
    guard_user_key(g, c.username, c.realm, key);
    entry_t *e = table_find(g->st->users, key);
    return e && guard_is_blocked(g, e, now);
}
