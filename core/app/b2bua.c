/*
 * b2bua.c — back-to-back calls (drachtio-srf's createB2BUA): a UAC call
 * to B for the INVITE from A; B's provisional responses and its final
 * answer go back to A as our own responses (A's dialog is ours, not B's:
 * a new Call-ID, tags and Contact toward B, nothing of B's Via, Contact
 * or Record-Route toward A).  A CANCEL from A cancels B, and so does any
 * other failure A is answered with while B rings (no PRACK from A, stop):
 * B is never left ringing for a caller who is gone.
 *
 * RFC 3262 §3: B's 2xx is held while a reliable provisional with SDP we
 * sent A waits for its PRACK; the PRACK lets it go, A failing first (no
 * PRACK in 64*T1, a CANCEL, stop) ends B's call with ACK and BYE.
 * RFC 4028 §8.1: a Session-Expires from A below our Min-SE is answered
 * 422 with Min-SE, and B is not called.
 *
 * Ownership: the b2b lives from create until B's call reports its final
 * answer (its callback) — or, when that 2xx is held, until A PRACKs or
 * fails; A's request may go earlier (answered 487 on a CANCEL), which
 * only clears the pointer to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_impl.h"
#include "sc_log.h"

#define MAX_LINES 48

typedef struct {
    sc_req_t        *req;           /* A's INVITE; NULL once gone */
    sc_instance_t   *inst;
    sc_uac_t        *uac;
    sc_b2bua_opts_t  o;             /* what is needed after create points into: */
    char           **resp_hdrs, **resp_names, *sdp_a;  /* copies (the caller's may
                                                         be on its stack) */
    sc_b2bua_cb      cb;
    void            *arg;
    bool             cancelled;     /* A cancelled or failed: B is being cancelled */
    bool             b_final;       /* B's final answer came */
    /* B's 2xx, held for A's PRACK (RFC 3262 §3): what A will get */
    sc_dialog_t     *held;          /* B's dialog; NULL when nothing is held */
    unsigned         held_status;
    char            *held_reason, *held_sdp, **held_lines;
    size_t           held_sdp_len;
} b2b_t;

static void free_list(char **l);
static void let_go(b2b_t *b, bool settle);

/* A failed while B's 2xx was held: B's call ends (ACK sent, now BYE). */
static void drop_held(b2b_t *b, unsigned status, const char *why)
{
    sc_log(SC_LOG_INFO, "b2bua: A's leg ended (%s) before B's %u could reach it: BYE to B", why,
           b->held_status);
    sc_dialog_t *d = b->held;
    b->held = NULL;
    sc_dialog_destroy(d, NULL, NULL, NULL);
    b->cb(NULL, NULL, &(sc_response_t){ .status = status, .reason = why }, b->arg);
}

static void on_a_gone(void *arg)
{
    b2b_t *b = arg;
    b->req = NULL;
    if (b->held) {
        drop_held(b, 487, "Request Terminated");
        let_go(b, false);
    } else if (!b->b_final && !b->cancelled) {
        b->cancelled = true;            /* A is gone (stop): B stops ringing */
        sc_uac_cancel(b->uac);
    }
}

static void on_a_cancel(void *arg)
{
    b2b_t *b = arg;
    b->cancelled = true;
    if (b->req)
        sc_req_answer(b->req, 487, NULL, NULL, NULL, SC_STR_NULL);
    if (b->held) {
        drop_held(b, 487, "Request Terminated");
        let_go(b, false);               /* the core settles A's request */
        return;
    }
    sc_uac_cancel(b->uac);
}

/* A final answer went to A.  One that is not B's, while B rings, is a
 * failure of A's leg (no PRACK, stop): B is cancelled; with B's 2xx
 * held, B's call ends. */
static void on_a_answered(void *arg, unsigned status)
{
    b2b_t *b = arg;
    if (b->cancelled || status < 300)
        return;
    if (b->held) {
        drop_held(b, status, "A's leg failed");
        let_go(b, false);               /* inside the answer: not freed here */
        return;
    }
    if (b->b_final)
        return;                         /* B's own answer, relayed */
    sc_log(SC_LOG_INFO, "b2bua: A was answered %u while B rang: CANCEL to B", status);
    b->cancelled = true;
    sc_uac_cancel(b->uac);
}

/* A NULL-terminated copy of a NULL-terminated list (NULL for none). */
static char **copy_list(const char *const *l, bool *oom)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    if (n == 0)
        return NULL;
    char **c = calloc(n + 1, sizeof(*c));
    for (size_t i = 0; c && i < n; i++)
        if ((c[i] = strdup(l[i])) == NULL)
            *oom = true;
    if (c == NULL)
        *oom = true;
    return c;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

/* The b2b ends; with settle, A's request (answered) is let go of too,
 * as a module's late call would (not from inside its answer). */
static void let_go(b2b_t *b, bool settle)
{
    sc_req_t *req = b->req;
    if (req) {
        req->on_cancel = NULL;
        req->on_gone = NULL;
        req->on_answered = NULL;
        req->on_pracked = NULL;
        req->taker = NULL;
    }
    if (b->held)
        sc_dialog_destroy(b->held, NULL, NULL, NULL);
    free_list(b->held_lines);
    free(b->held_reason);
    free(b->held_sdp);
    free_list(b->resp_hdrs);
    free_list(b->resp_names);
    free(b->sdp_a);
    free(b);
    if (settle && req && req->done && req->depth == 0) {
        req->core_answered = false;
        sc_req_settle(req);
    }
}

/* The headers for a response to A made from B's response r: the fixed
 * ones, B's headers named in proxy_response_headers, and what the
 * callback adds (through A's sc_res_t, whose headers we then take). */
static int response_lines(b2b_t *b, const sc_response_t *r, const char **lines, char **owned,
                          int *nowned)
{
    int n = 0;
    for (const char *const *h = b->o.response_headers; h && *h && n < MAX_LINES - 1; h++)
        lines[n++] = *h;
    for (const char *const *name = b->o.proxy_response_headers; r->msg && name && *name; name++)
        for (const sc_hdr_t *h = r->msg->hdr_first; h && n < MAX_LINES - 1; h = h->next) {
            if (h->name.len != strlen(*name) || !sc_mem_caseeq(h->name.s, *name, h->name.len))
                continue;
            char *line = malloc(h->name.len + h->value.len + 3);
            if (line == NULL)
                break;
            memcpy(line, h->name.s, h->name.len);
            memcpy(line + h->name.len, ": ", 2);
            memcpy(line + h->name.len + 2, h->value.s, h->value.len);
            line[h->name.len + 2 + h->value.len] = '\0';
            owned[(*nowned)++] = line;
            lines[n++] = line;
        }
    if (b->o.response_headers_cb && b->req) {
        sc_res_t *res = &b->req->res;
        res_hdr_t *before = res->hdrs;
        res->hdrs = NULL;
        b->o.response_headers_cb(r, res, b->arg);
        for (res_hdr_t *h = res->hdrs, *nx; h; h = nx) {
            nx = h->next;
            size_t len = strlen(h->name) + strlen(h->value) + 3;
            char *line = n < MAX_LINES - 1 ? malloc(len) : NULL;
            if (line) {
                snprintf(line, len, "%s: %s", h->name, h->value);
                owned[(*nowned)++] = line;
                lines[n++] = line;
            }
            free(h->name);
            free(h->value);
            free(h);
        }
        res->hdrs = before;
    }
    lines[n] = NULL;
    return n;
}

/* Answers A from B's response r, with sdp when given, and one more
 * header line when extra is not NULL; or, with hold, keeps that answer
 * for later (0, or -1 out of memory). */
static int answer_a_or_hold(b2b_t *b, const sc_response_t *r, sc_str_t sdp, const char *extra,
                            bool hold)
{
    const char *lines[MAX_LINES + 1];
    char *owned[MAX_LINES];
    int nowned = 0;
    int n = response_lines(b, r, lines, owned, &nowned);
    if (extra) {
        lines[n++] = extra;
        lines[n] = NULL;
    }
    char reason[128] = "";
    sc_str_t rs = sc_response_reason(r);
    if (rs.len && rs.len < sizeof(reason)) {
        memcpy(reason, rs.s, rs.len);
        reason[rs.len] = '\0';
    }
    int rc = 0;
    if (hold) {
        bool oom = false;
        b->held_lines = copy_list(lines, &oom);
        b->held_status = r->status;
        if (reason[0] && (b->held_reason = strdup(reason)) == NULL)
            oom = true;
        if (sdp.len && (b->held_sdp = malloc(sdp.len)) != NULL) {
            memcpy(b->held_sdp, sdp.s, sdp.len);
            b->held_sdp_len = sdp.len;
        } else if (sdp.len) {
            oom = true;
        }
        rc = oom ? -1 : 0;
    } else {
        rc = sc_req_answer(b->req, r->status, reason[0] ? reason : NULL, lines, NULL, sdp);
    }
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    return rc;
}

static int answer_a(b2b_t *b, const sc_response_t *r, sc_str_t sdp, const char *extra)
{
    return answer_a_or_hold(b, r, sdp, extra, false);
}

/* A PRACKed: the 2xx held for it goes to A now. */
static void on_a_pracked(void *arg)
{
    b2b_t *b = arg;
    if (b->held == NULL || b->req == NULL)
        return;
    sc_dialog_t *uac = b->held;
    b->held = NULL;
    sc_log(SC_LOG_INFO, "b2bua: A PRACKed: B's %u goes to A", b->held_status);
    sc_dialog_t *uas = sc_uas_dialog(b->req, b->inst);
    if (uas && sc_req_answer(b->req, b->held_status, b->held_reason, (const char *const *)b->held_lines,
                             NULL, sc_str(b->held_sdp, b->held_sdp_len)) != 0) {
        sc_uas_undo(b->req);
        uas = NULL;
    }
    if (uas == NULL) {
        b->held = uac;
        drop_held(b, 487, "Request Terminated");
        let_go(b, true);        /* (the PRACK is on the stack, not the INVITE) */
        return;
    }
    b->cb(uas, uac, &(sc_response_t){ .status = b->held_status, .reason = b->held_reason }, b->arg);
    let_go(b, true);
}

/* The SDP A gets for B's response r. */
static sc_str_t sdp_for_a(b2b_t *b, const sc_response_t *r)
{
    sc_str_t bsdp = sc_response_body(r);
    if (b->o.local_sdp_a_cb) {
        const char *s = b->o.local_sdp_a_cb(bsdp, r, b->arg);
        return s ? sc_str_cstr(s) : bsdp;
    }
    return b->o.local_sdp_a ? sc_str_cstr(b->o.local_sdp_a) : bsdp;
}

static void on_b_provisional(const sc_response_t *r, void *arg)
{
    b2b_t *b = arg;
    if (b->o.on_provisional)
        b->o.on_provisional(r, b->arg);
    if (!b->o.pass_provisional || b->req == NULL || b->req->done || r->status == 100)
        return;
    sc_str_t sdp = r->msg && r->msg->body.len ? sdp_for_a(b, r) : SC_STR_NULL;
    /* reliable from B: reliable to A too when A can (it PRACKs us) */
    bool rel = r->msg && sc_token_list_has(r->msg->require, "100rel");
    answer_a(b, r, sdp, rel ? "Require: 100rel" : NULL);
}

static void on_b_request(sc_str_t sent, void *arg)
{
    b2b_t *b = arg;
    if (b->o.on_request)
        b->o.on_request(sent, b->arg);
}

static void on_b_final(sc_dialog_t *uac, const sc_response_t *r, void *arg)
{
    b2b_t *b = arg;
    b->b_final = true;
    if (uac == NULL) {
        if (b->req && !b->req->done && (b->o.pass_failure || b->cancelled))
            answer_a(b, r, SC_STR_NULL, NULL);
        b->cb(NULL, NULL, b->cancelled ? &(sc_response_t){ .status = 487, .reason = "Request Terminated" } : r,
              b->arg);
        let_go(b, true);
        return;
    }
    if (b->o.on_finalized_uac)
        b->o.on_finalized_uac(uac, b->arg);
    sc_dialog_t *uas = b->req && !b->cancelled ? sc_uas_dialog(b->req, b->inst) : NULL;
    if (uas && sc_dialog_rel_sdp_pending(uas)) {
        /* RFC 3262 §3: not before A PRACKed the SDP it was sent */
        if (answer_a_or_hold(b, r, sdp_for_a(b, r), NULL, true) == 0) {
            sc_log(SC_LOG_INFO, "b2bua: B answered %u: held until A PRACKs", r->status);
            b->held = uac;
            return;
        }
        sc_log(SC_LOG_WARN, "b2bua: cannot hold B's %u for A's PRACK (out of memory): BYE to B",
               r->status);
        uas = NULL;
    }
    if (uas && answer_a(b, r, sdp_for_a(b, r), NULL) != 0) {
        sc_uas_undo(b->req);
        uas = NULL;
    }
    if (uas == NULL) {      /* A went away while B answered */
        sc_log(SC_LOG_INFO, "b2bua: B answered after A left: BYE to B");
        sc_dialog_destroy(uac, NULL, NULL, NULL);
        b->cb(NULL, NULL, &(sc_response_t){ .status = 487, .reason = "Request Terminated" }, b->arg);
        let_go(b, true);
        return;
    }
    b->cb(uas, uac, r, b->arg);
    let_go(b, true);
}

sc_uac_t *sc_b2bua_create(sc_req_t *req, sc_res_t *res, const sc_b2bua_opts_t *o, sc_b2bua_cb cb,
                          void *arg)
{
    (void)res;
    const sc_msg_t *m = req->msg;
    if (req->done || req->taker || req->proxy || m->method != SC_METHOD_INVITE || o == NULL ||
        o->uri == NULL || cb == NULL)
        return NULL;
    unsigned se = sc_session_expires_of(m);
    if (se && se < req->chain->min_se_s) {
        char min[40];       /* RFC 4028 §8.1: too brief; never raised behind A's back */
        snprintf(min, sizeof(min), "Min-SE: %u", req->chain->min_se_s);
        const char *lines[] = { min, NULL };
        sc_log(SC_LOG_INFO, "b2bua: %.*s: Session-Expires %u below Min-SE %u: 422",
               SC_STR_FMT(m->call_id), se, req->chain->min_se_s);
        sc_req_answer(req, 422, NULL, lines, NULL, SC_STR_NULL);
        /* from a callback, the module's sc_res_send lets go of it; in its
         * handler, the chain does when the handler returns */
        req->core_answered = req->depth == 0;
        return NULL;
    }
    b2b_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->req = req;
    b->inst = req->pos >= 0 && req->pos < req->chain->n ? &req->chain->links[req->pos] : NULL;
    b->o = *o;
    bool oom = false;
    b->o.response_headers = (const char *const *)(b->resp_hdrs = copy_list(o->response_headers, &oom));
    b->o.proxy_response_headers =
        (const char *const *)(b->resp_names = copy_list(o->proxy_response_headers, &oom));
    if (o->local_sdp_a && (b->sdp_a = strdup(o->local_sdp_a)) == NULL)
        oom = true;
    b->o.local_sdp_a = b->sdp_a;
    b->o.uri = b->o.local_sdp_b = b->o.proxy = b->o.auth_username = b->o.auth_password = NULL;
    b->o.headers = b->o.proxy_request_headers = NULL;  /* used in create only */
    if (oom) {
        let_go(b, false);
        return NULL;
    }
    b->cb = cb;
    b->arg = arg;
    /* B's INVITE: the headers given, and A's named in proxy_request_headers */
    const char *lines[MAX_LINES];
    char *owned[MAX_LINES];
    int n = 0, nowned = 0;
    for (const char *const *h = o->headers; h && *h && n < MAX_LINES - 1; h++)
        lines[n++] = *h;
    for (const char *const *name = o->proxy_request_headers; name && *name; name++)
        for (const sc_hdr_t *h = m->hdr_first; h && n < MAX_LINES - 1; h = h->next) {
            if (h->name.len != strlen(*name) || !sc_mem_caseeq(h->name.s, *name, h->name.len))
                continue;
            char *line = malloc(h->name.len + h->value.len + 3);
            if (line == NULL)
                break;
            snprintf(line, h->name.len + h->value.len + 3, "%.*s: %.*s", SC_STR_FMT(h->name),
                     SC_STR_FMT(h->value));
            owned[nowned++] = line;
            lines[n++] = line;
        }
    lines[n] = NULL;
    char *offer = NULL;
    if (o->local_sdp_b == NULL && m->body.len)
        offer = strndup(m->body.s, m->body.len);
    sc_uac_opts_t uo = {
        .uri = o->uri, .headers = lines, .proxy = o->proxy,
        .local_sdp = o->local_sdp_b ? o->local_sdp_b : offer,
        .auth_username = o->auth_username, .auth_password = o->auth_password,
        .on_request = on_b_request, .on_provisional = on_b_provisional,
        .final_timeout_s = o->final_timeout_s,
    };
    if (b->inst)
        b->uac = sc_uac_create_leg(b->inst, &uo, on_b_final, b, m->call_id);
    free(offer);
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    if (b->uac == NULL) {
        b->req = NULL;
        let_go(b, false);
        return NULL;
    }
    sc_uac_report_on_drop(b->uac);
    req->on_cancel = on_a_cancel;
    req->on_gone = on_a_gone;
    req->on_answered = on_a_answered;
    req->on_pracked = on_a_pracked;
    req->taker = b;
    return b->uac;
}
