/*
 * uas.c — answering a call (drachtio-srf's createUAS): the 200 with our
 * To tag, Contact and SDP, and the UAS dialog it creates (§12.1.1); or a
 * SUBSCRIBE with 202 and the subscription dialog (RFC 6665).  The
 * dialog exists before the 200 leaves, so that the 200 goes out through
 * it (Contact, retransmission until the ACK).
 */
#include <stdio.h>

#include "chain_impl.h"
#include "sc_log.h"

/* Our Contact for a dialog made by req: where req reached us. */
static void contact_for(const sc_req_t *req, char *out, size_t cap)
{
    char sentby[SC_HOSTPORT_LEN];
    sc_source_sentby(&req->src, sentby, sizeof(sentby));
    bool sips = req->msg->ruri.scheme == SC_URI_SIPS;
    if (req->src.kind == SC_TP_UDP)
        snprintf(out, cap, "%s:%s", sips ? "sips" : "sip", sentby);
    else
        snprintf(out, cap, "%s:%s;transport=%s", sips ? "sips" : "sip", sentby,
                 sc_tp_name(req->src.kind));
}

sc_dialog_t *sc_uas_dialog(sc_req_t *req, sc_instance_t *inst)
{
    char contact[SC_HOSTPORT_LEN + 40];
    if (req->dialog)                /* early: made by a reliable provisional */
        return req->done ? NULL : req->dialog;
    sc_method_t mt = req->msg->method;
    if (req->done || (mt != SC_METHOD_INVITE && mt != SC_METHOD_SUBSCRIBE) ||
        req->chain->stack.dialogs == NULL)
        return NULL;
    contact_for(req, contact, sizeof(contact));
    sc_dlg_t *dl = sc_dlg_new_uas(req->msg, sc_str_cstr(req->to_tag), sc_str_cstr(contact));
    sc_dialog_t *d = dl ? sc_dialog_new(req->chain, inst, dl) : NULL;
    if (d == NULL) {
        sc_log(SC_LOG_WARN, "uas: no dialog for %.*s (no Contact?)", SC_STR_FMT(req->msg->call_id));
        return NULL;
    }
    sc_dialog_set_sdp(d, SC_STR_NULL, req->msg->body);
    req->dialog = d;
    return d;
}

void sc_uas_reliable(sc_req_t *req, sc_msg_t *resp)
{
    const sc_msg_t *m = req->msg;
    sc_instance_t *inst = req->pos >= 0 && req->pos < req->chain->n ? &req->chain->links[req->pos]
                                                                    : NULL;
    bool offered = sc_token_list_has(m->supported, "100rel") || sc_token_list_has(m->require, "100rel");
    bool fresh = req->dialog == NULL;
    sc_dialog_t *d = offered ? sc_uas_dialog(req, inst) : NULL;
    if (d && fresh)
        sc_dialog_early(d, true);
    if (d == NULL || sc_dialog_rseq(d, resp) != 0) {
        sc_log(SC_LOG_INFO, "%u to %.*s sent unreliably: %s", resp->status, SC_STR_FMT(m->call_id),
               offered ? "a reliable one is not yet PRACKed" : "the caller does not support 100rel");
        sc_msg_remove_header(resp, SC_STR_LIT("Require"));
    }
}

/* The dialog made for a 200 that did not leave: gone again. */
void sc_uas_undo(sc_req_t *req)
{
    sc_dialog_t *d = req->dialog;
    req->dialog = NULL;
    if (d)
        sc_dialog_drop(d);
}

sc_dialog_t *sc_uas_create(sc_req_t *req, sc_res_t *res, const sc_uas_opts_t *o)
{
    (void)res;
    sc_instance_t *inst = req->pos >= 0 && req->pos < req->chain->n ? &req->chain->links[req->pos]
                                                                    : NULL;
    unsigned se = sc_session_expires_of(req->msg);
    if (se && se < req->chain->min_se_s && !req->done) {
        char min[40];       /* RFC 4028 §8.1: too brief an interval */
        snprintf(min, sizeof(min), "Min-SE: %u", req->chain->min_se_s);
        const char *lines[] = { min, NULL };
        sc_req_answer(req, 422, NULL, lines, NULL, SC_STR_NULL);
        /* from a callback, the module's sc_res_send lets go of it; in its
         * handler, the chain does when the handler returns */
        req->core_answered = req->depth == 0;
        return NULL;
    }
    sc_dialog_t *d = sc_uas_dialog(req, inst);
    if (d == NULL)
        return NULL;
    if (req->msg->method == SC_METHOD_SUBSCRIBE) {
        const sc_msg_t *m = req->msg;
        unsigned expires = m->has_expires ? (m->expires > 3600 ? 3600 : m->expires) : 3600;
        sc_hdr_t *ev = m->hdr[SC_HDR_EVENT];
        char line[32];
        snprintf(line, sizeof(line), "Expires: %u", expires);
        const char *lines[34] = { line };
        for (int i = 0; o && o->headers && o->headers[i] && i < 32; i++)
            lines[i + 1] = o->headers[i];
        sc_dialog_subscription(d, ev ? ev->value : SC_STR_LIT("presence"), expires);
        if (sc_req_answer(req, 202, NULL, lines, NULL, SC_STR_NULL) != 0) {
            sc_uas_undo(req);
            return NULL;
        }
        sc_req_settle(req);
        return d;
    }
    sc_str_t sdp = o && o->local_sdp ? sc_str_cstr(o->local_sdp) : SC_STR_NULL;
    if (sc_req_answer(req, 200, NULL, o ? o->headers : NULL, o ? o->content_type : NULL, sdp) != 0) {
        sc_uas_undo(req);
        return NULL;
    }
    /* answered as sc_res_send answers: a module answering later (from a
     * callback, not its handler) lets go of the request here */
    sc_req_settle(req);
    return d;
}
