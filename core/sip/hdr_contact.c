/*
 * hdr_contact.c — Contact written in name-addr form.  RFC 3261 §20.10
 * allows "Contact: sip:u@h:p" (addr-spec), but peers that take the
 * remote target from between '<' and '>' read nothing there and then
 * send their in-dialog requests with an empty Request-URI.  sofia-sip
 * (drachtio-server's stack) always writes the brackets; so do we for the
 * Contact of a dialog, whatever form a module gave.  Only the form
 * changes: in addr-spec form everything after the URI's first ';' is a
 * header parameter (§20), and stays one, after the '>'.
 */
#include "sip_msg.h"

#include <stdio.h>
#include <stdlib.h>

int sc_msg_contact_name_addr(sc_msg_t *m)
{
    if (m->contact == NULL || m->contact_star)
        return 0;
    size_t n = 1;
    bool bare = false;
    for (const sc_addr_t *a = m->contact; a; a = a->next) {
        bare |= !a->angle;
        n += a->display.len + a->uri.raw.len + a->params.len + 8;
    }
    if (!bare)
        return 0;
    char *v = malloc(n);
    if (v == NULL)
        return -1;
    size_t at = 0;
    for (const sc_addr_t *a = m->contact; a; a = a->next) {
        const char *q = a->display_quoted ? "\"" : "";
        at += (size_t)snprintf(v + at, n - at, "%s", at ? ", " : "");
        if (a->display.len)
            at += (size_t)snprintf(v + at, n - at, "%s%.*s%s ", q, SC_STR_FMT(a->display), q);
        at += (size_t)snprintf(v + at, n - at, "<%.*s>%.*s", SC_STR_FMT(a->uri.raw),
                               SC_STR_FMT(a->params));
    }
    int rc = sc_msg_replace_header(m, SC_STR_LIT("Contact"), sc_str(v, at), NULL);
    free(v);
    return rc;
}

bool sc_method_dialog_contact(sc_method_t method)
{
    return method == SC_METHOD_INVITE || method == SC_METHOD_SUBSCRIBE ||
           method == SC_METHOD_UPDATE || method == SC_METHOD_NOTIFY || method == SC_METHOD_REFER ||
           method == SC_METHOD_PRACK;
}
