/*
 * screen.h — what the drachtio module answers itself before any
 * application sees a request, as drachtio-server does: its spammer list
 * (<sip><spammers>: header patterns, 603 Decline or a silent discard)
 * and OPTIONS pings (200 OK when no application routed OPTIONS, and
 * always for the User-Agents of <user-agent-options-auto-respond>).
 */
#ifndef DR_SCREEN_H
#define DR_SCREEN_H

#include <stdbool.h>
#include <sipchain.h>

#define DR_MAX_SPAM_RULES 16

typedef struct {
    const char  *header;        /* "User-Agent"; To / From: their URI's user part */
    const char **values;        /* NULL-terminated substrings, any case */
} dr_spam_rule_t;

typedef struct {
    dr_spam_rule_t rules[DR_MAX_SPAM_RULES];
    int            nrules;
    bool           discard;         /* else answer status */
    unsigned       status;          /* 603 */
    bool           options_200;     /* OPTIONS no application routed: 200 */
    const char   **options_uas;     /* OPTIONS from these User-Agents: 200 always */
} dr_screen_t;

/* The spammers / options_200 / options_user_agents keys of conf. */
int  dr_screen_conf(dr_screen_t *s, const sc_conf_node_t *conf, char *err, size_t errlen);
void dr_screen_free(dr_screen_t *s);
/* A spammer's request: answered (status) or dropped, logged; true.
 * Anything else: false, req untouched. */
bool dr_screen_spam(const dr_screen_t *s, sc_instance_t *inst, sc_req_t *req, sc_res_t *res);
/* An OPTIONS answered 200 here (routed: whether an application routed
 * OPTIONS): true. */
bool dr_screen_options(const dr_screen_t *s, sc_req_t *req, sc_res_t *res, bool routed);

#endif
