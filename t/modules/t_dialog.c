/* t_dialog — test module for the framework's dialogs, driven by headers
 * of the request that reaches it:
 *
 *   X-Mode: uas      answer the INVITE with sc_uas_create (SDP "v=0 uas");
 *                    X-Early: MS sends a reliable 183 with SDP first and
 *                    answers MS later (X-Unreliable: yes: the 183
 *                    without Require: 100rel, left to the framework)
 *   X-Mode: b2bua    sc_b2bua_create to X-Target; the legs are tied: a BYE
 *                    on one ends the other, a re-INVITE on one is passed
 *                    to the other and answered with what it answered;
 *                    X-Pass-Failure: no leaves B's failure to the module,
 *                    which answers A "480 Tried B: STATUS"; X-Callbacks: yes
 *                    adds X-From-Cb: STATUS to A's responses and gives A
 *                    the SDP "s=from-cb" (the callback forms)
 *   X-Mode: uac      (any method) sc_uac_create to X-Target; the trigger
 *                    is answered 200 at once; X-Auth-User/X-Auth-Pass are
 *                    the credentials, X-Cancel-After: MS cancels,
 *                    X-Follow: yes follows redirects
 *   X-Mode: subscribe    (any method) subscribes (sc_uac_create, SUBSCRIBE,
 *                    Event: presence) to X-Target
 *   X-Mode: find     (any method) answers 200 "found uas|uac" when the
 *                    dialog X-Dialog-Id (or X-Call-ID + X-From-Tag) is
 *                    live, else 404
 *   X-Hangup-After: MS   we send the BYE that long after connecting
 *   X-Hold-After: MS     we send a re-INVITE "hold" that long after
 *
 * Everything that happens is logged as "..." lines, and every
 * cdr:* event as "cdr:EVENT source=.. role=.. reason=.. status=..
 * call-id=..", which the tests read from the server log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sipchain.h>

#include "t_cdr_log.h"

#define SDP_UAS "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=uas\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=sendrecv\r\n"
#define SDP_UAC "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=uac\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7002 RTP/AVP 0\r\na=sendrecv\r\n"

typedef struct call {
    sc_instance_t *inst;
    sc_dialog_t   *a, *b;           /* b2bua: uas and uac; else a alone */
    unsigned       hangup_ms, hold_ms, cancel_ms;
    struct event  *hangup, *hold, *cancel, *answer;
    sc_uac_t      *uac;
    sc_req_t      *req;             /* b2bua: A's INVITE until connected */
    sc_res_t      *res;
    char           id[300];
    /* a re-INVITE passed across: the leg's request waiting for the other */
    sc_req_t      *pending;
    sc_res_t      *pending_res;
} call_t;

static char *cstr(sc_str_t v)
{
    char *s = malloc(v.len + 1);
    if (v.len)
        memcpy(s, v.s, v.len);
    s[v.len] = '\0';
    return s;
}

static unsigned header_ms(sc_req_t *req, const char *name)
{
    sc_str_t v = sc_req_header(req, name);
    char buf[16] = "";
    if (v.len && v.len < sizeof(buf))
        memcpy(buf, v.s, v.len);
    return (unsigned)atoi(buf);
}

static void call_free(call_t *c)
{
    struct event *evs[] = { c->hangup, c->hold, c->cancel, c->answer };
    for (int i = 0; i < 4; i++)
        if (evs[i])
            event_free(evs[i]);
    free(c);
}


/* --- timers ------------------------------------------------------------- */

static void logged(const sc_response_t *r, void *arg)
{
    sc_instance_log(arg, SC_LOG_LEVEL_INFO, "response %u to our request",
                    sc_response_status(r));
}

static void on_hangup(evutil_socket_t fd, short what, void *arg)
{
    call_t *c = arg;
    (void)fd;
    (void)what;
    sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "hanging up %s", c->id);
    sc_dialog_t *a = c->a, *b = c->b;
    c->a = c->b = NULL;
    sc_dialog_destroy(a, NULL, logged, c->inst);
    if (b)
        sc_dialog_destroy(b, NULL, logged, c->inst);
    call_free(c);
}

static void on_hold_done(const sc_response_t *r, void *arg)
{
    sc_instance_log(arg, SC_LOG_LEVEL_INFO, "hold answered %u", sc_response_status(r));
}

static void on_hold(evutil_socket_t fd, short what, void *arg)
{
    call_t *c = arg;
    (void)fd;
    (void)what;
    if (c->a && sc_dialog_modify(c->a, "hold", on_hold_done, c->inst) != 0)
        sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "hold refused");
}

static void arm(call_t *c, struct event **ev, unsigned ms, event_callback_fn fn)
{
    if (ms == 0)
        return;
    *ev = evtimer_new(sc_instance_base(c->inst), fn, c);
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(*ev, &tv);
}

/* --- dialog events ------------------------------------------------------ */

static void on_event(sc_dialog_t *d, sc_dialog_event_t ev, sc_req_t *req, sc_res_t *res, void *arg);

static void on_other_answered(const sc_response_t *r, void *arg)
{
    call_t *c = arg;
    if (sc_response_status(r) < 200 || c->pending == NULL)
        return;
    sc_str_t sdp = sc_response_body(r);
    if (sdp.len)
        sc_res_set_body(c->pending_res, "application/sdp", sdp);
    sc_res_send(c->pending_res, sc_response_status(r), NULL);
    c->pending = NULL;
}

static void on_event(sc_dialog_t *d, sc_dialog_event_t ev, sc_req_t *req, sc_res_t *res, void *arg)
{
    call_t *c = arg;
    static const char *const names[] = { "destroy", "modify", "refresh", "hold", "unhold", "info",
                                         "notify", "options", "update", "refer", "message",
                                         "request", "ack" };
    if (ev == SC_DIALOG_ACK) {      /* with the answer when our 2xx offered */
        sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "ack on %s leg %s answer=%s",
                        sc_dialog_is_uac(d) ? "uac" : "uas", sc_dialog_id(d),
                        sc_req_body(req).len ? "sdp" : "none");
        return;
    }
    sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "%s %s on %s leg %s", names[ev],
                    req ? "by request" : "by the core", sc_dialog_is_uac(d) ? "uac" : "uas",
                    sc_dialog_id(d));
    sc_dialog_t *other = d == c->a ? c->b : c->a;
    if (ev == SC_DIALOG_DESTROY) {
        c->a = c->b = NULL;
        if (other)
            sc_dialog_destroy(other, NULL, logged, c->inst);
        call_free(c);
        return;
    }
    if (ev == SC_DIALOG_MODIFY && other) {      /* passed across (b2bua) */
        sc_str_t sdp = sc_req_body(req);
        char *s = cstr(sdp);
        c->pending = req;
        c->pending_res = res;
        if (sc_dialog_modify(other, s, on_other_answered, c) != 0) {
            c->pending = NULL;
            sc_res_send(res, 491, NULL);
        }
        free(s);
        return;
    }
    if (ev == SC_DIALOG_MODIFY) {
        sc_res_set_body(res, "application/sdp", sc_dialog_local_sdp(d));
        sc_res_send(res, 200, NULL);
    }
}

static void watch(call_t *c, sc_dialog_t *d)
{
    /* the notifications; requests in the dialog get the default answers,
     * but a b2bua passes re-INVITEs across */
    static const sc_dialog_event_t evs[] = { SC_DIALOG_DESTROY, SC_DIALOG_REFRESH, SC_DIALOG_HOLD,
                                             SC_DIALOG_UNHOLD, SC_DIALOG_ACK };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        sc_dialog_on(d, evs[i], on_event, c);
    if (c->b)
        sc_dialog_on(d, SC_DIALOG_MODIFY, on_event, c);
}

static void connected(call_t *c)
{
    snprintf(c->id, sizeof(c->id), "%s", sc_dialog_id(c->a));
    sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "connected %s%s%s", c->id,
                    c->b ? " with " : "", c->b ? sc_dialog_id(c->b) : "");
    watch(c, c->a);
    if (c->b)
        watch(c, c->b);
    arm(c, &c->hangup, c->hangup_ms, on_hangup);
    arm(c, &c->hold, c->hold_ms, on_hold);
}

/* --- the three modes ---------------------------------------------------- */

static void response_headers_cb(const sc_response_t *b, sc_res_t *a, void *arg)
{
    char v[16];
    (void)arg;
    snprintf(v, sizeof(v), "%u", sc_response_status(b));
    sc_res_add_header(a, "X-From-Cb", v);
}

#define SDP_CB "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=from-cb\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7004 RTP/AVP 0\r\n"

static const char *sdp_a_cb(sc_str_t b_sdp, const sc_response_t *b, void *arg)
{
    (void)b_sdp;
    (void)b;
    (void)arg;
    return SDP_CB;
}

static void on_b2b(sc_dialog_t *uas, sc_dialog_t *uac, const sc_response_t *r, void *arg)
{
    call_t *c = arg;
    if (uas == NULL) {
        sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "b2bua failed %u",
                        sc_response_status(r));
        if (c->req && sc_response_status(r) != 487) {
            char why[64];
            snprintf(why, sizeof(why), "Tried B: %u", sc_response_status(r));
            if (c->res)
                sc_res_send(c->res, 480, why);
        }
        call_free(c);
        return;
    }
    c->a = uas;
    c->b = uac;
    c->req = NULL;
    connected(c);
}

static void on_uac(sc_dialog_t *d, const sc_response_t *r, void *arg)
{
    call_t *c = arg;
    if (d == NULL) {
        sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "uac failed %u",
                        sc_response_status(r));
        call_free(c);
        return;
    }
    if (c->cancel)
        evtimer_del(c->cancel);
    c->a = d;
    connected(c);
}

static void on_provisional(const sc_response_t *r, void *arg)
{
    call_t *c = arg;
    sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "provisional %u", sc_response_status(r));
}

static void on_cancel_timer(evutil_socket_t fd, short what, void *arg)
{
    call_t *c = arg;
    (void)fd;
    (void)what;
    sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "cancelling");
    sc_uac_cancel(c->uac);
}

static void on_answer_timer(evutil_socket_t fd, short what, void *arg)
{
    call_t *c = arg;
    (void)fd;
    (void)what;
    sc_uas_opts_t o = { .local_sdp = SDP_UAS };
    c->a = sc_uas_create(c->req, c->res, &o);
    if (c->a == NULL) {
        sc_instance_log(c->inst, SC_LOG_LEVEL_INFO, "too late to answer");
        sc_res_send(c->res, 500, "too late");   /* lets go of it */
        call_free(c);
        return;
    }
    c->req = NULL;
    connected(c);
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    sc_str_t mode = sc_req_header(req, "X-Mode");
    call_t *c = calloc(1, sizeof(*c));
    c->inst = inst;
    c->hangup_ms = header_ms(req, "X-Hangup-After");
    c->hold_ms = header_ms(req, "X-Hold-After");
    c->cancel_ms = header_ms(req, "X-Cancel-After");
    char *target = cstr(sc_req_header(req, "X-Target"));
    unsigned early = header_ms(req, "X-Early");
    if (mode.len == 3 && memcmp(mode.s, "uas", 3) == 0 && early) {
        if (sc_req_header(req, "X-Unreliable").len == 0)
            sc_res_add_header(res, "Require", "100rel");
        sc_res_set_body(res, "application/sdp", (sc_str_t){ SDP_UAS, sizeof(SDP_UAS) - 1 });
        sc_res_send(res, 183, NULL);
        c->req = req;
        c->res = res;
        arm(c, &c->answer, early, on_answer_timer);
    } else if (mode.len == 3 && memcmp(mode.s, "uas", 3) == 0) {
        sc_uas_opts_t o = { .local_sdp = SDP_UAS };
        c->a = sc_uas_create(req, res, &o);
        if (c->a)
            connected(c);
        else
            call_free(c);
    } else if (mode.len == 5 && memcmp(mode.s, "b2bua", 5) == 0) {
        sc_str_t pf = sc_req_header(req, "X-Pass-Failure");
        sc_b2bua_opts_t o = SC_B2BUA_OPTS_INIT;
        const char *hdrs[] = { "X-Leg: B", NULL };
        const char *rh[] = { "X-Leg: A", NULL };
        const char *pass[] = { "X-Forward-Me", NULL };
        o.uri = target;
        o.headers = hdrs;
        o.response_headers = rh;
        o.proxy_request_headers = pass;
        o.pass_failure = !(pf.len == 2 && memcmp(pf.s, "no", 2) == 0);
        sc_str_t cbs = sc_req_header(req, "X-Callbacks");
        if (cbs.len == 3 && memcmp(cbs.s, "yes", 3) == 0) {
            o.response_headers_cb = response_headers_cb;
            o.local_sdp_a_cb = sdp_a_cb;
        }
        c->req = req;
        c->res = res;
        if (sc_b2bua_create(req, res, &o, on_b2b, c) == NULL) {
            call_free(c);
            sc_res_send(res, 500, "b2bua refused");
        }
    } else if (mode.len == 3 && memcmp(mode.s, "uac", 3) == 0) {
        char *user = cstr(sc_req_header(req, "X-Auth-User"));
        char *pass = cstr(sc_req_header(req, "X-Auth-Pass"));
        sc_uac_opts_t o = { .uri = target, .local_sdp = SDP_UAC,
                            .auth_username = user[0] ? user : NULL, .auth_password = pass,
                            .on_provisional = on_provisional,
                            .follow_redirects = sc_req_header(req, "X-Follow").len > 0 };
        c->uac = sc_uac_create(inst, &o, on_uac, c);
        sc_res_send(res, c->uac ? 200 : 500, c->uac ? "call placed" : "uac refused");
        if (c->uac == NULL)
            call_free(c);
        else
            arm(c, &c->cancel, c->cancel_ms, on_cancel_timer);
        free(user);
        free(pass);
    } else if (mode.len == 4 && memcmp(mode.s, "find", 4) == 0) {
        char *id = cstr(sc_req_header(req, "X-Dialog-Id"));
        char *cid = cstr(sc_req_header(req, "X-Call-ID")), *ft = cstr(sc_req_header(req, "X-From-Tag"));
        sc_dialog_t *d = id[0] ? sc_dialog_find(inst, id) : sc_dialog_find_by_call_id(inst, cid, ft);
        sc_res_send(res, d ? 200 : 404, d ? (sc_dialog_is_uac(d) ? "found uac" : "found uas")
                                          : "no such dialog");
        free(id);
        free(cid);
        free(ft);
        free(c);
    } else if (mode.len == 9 && memcmp(mode.s, "subscribe", 9) == 0) {
        const char *hdrs[] = { "Event: presence", "Expires: 60", NULL };
        sc_uac_opts_t o = { .uri = target, .method = "SUBSCRIBE", .headers = hdrs };
        c->uac = sc_uac_create(inst, &o, on_uac, c);
        sc_res_send(res, c->uac ? 200 : 500, c->uac ? "subscribing" : "uac refused");
        if (c->uac == NULL)
            call_free(c);
    } else {
        free(c);
        sc_next(req);
    }
    free(target);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_dialog", .version = "0", .start = t_cdr_log_start, .handle = handle,
};
