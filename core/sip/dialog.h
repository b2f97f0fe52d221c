/*
 * dialog.h — the dialog state of RFC 3261 §12: what two user agents
 * share between an INVITE (or SUBSCRIBE) and its end, and the rules that
 * follow from it, without any I/O.
 *
 * A dialog is identified by Call-ID, local tag and remote tag (§12); the
 * table below finds one from either side's point of view.  From the
 * state the layer builds in-dialog requests (§12.2.1.1: remote target as
 * Request-URI, route set as Route, with strict-routing handled), checks
 * requests received (§12.2.2: CSeq order) and applies target refreshes.
 *
 * drachtio names a dialog "<Call-ID>;from-tag=<tag>", the tag being the
 * From tag of the request that created it; that name is kept (id) so the
 * framework and the drachtio module can find dialogs the way apps do.
 */
#ifndef SC_DIALOG_H
#define SC_DIALOG_H

#include "sip_msg.h"

typedef struct sc_dlg {
    char     *call_id;
    char     *local_tag, *remote_tag;
    char     *local_uri, *remote_uri;   /* name-addrs for From / To, no tag */
    char     *remote_target;            /* the peer's Contact URI */
    char     *local_target;             /* our Contact URI */
    char     *route;                    /* the route set, as one Route value; "" none */
    char     *id;                       /* "<Call-ID>;from-tag=<creator's From tag>" */
    uint32_t  local_cseq;               /* last used; 0 before the first */
    uint32_t  remote_cseq;              /* last received; 0 before the first */
    bool      uac;                      /* we sent the request that created it */
    bool      secure;                   /* sips (§12.1.1) */
    void     *owner;                    /* whoever runs it (the framework) */
    struct sc_dlg *hnext;               /* table chain */
} sc_dlg_t;

/* §12.1.1: the dialog a 2xx (or 101-199 with a tag) to req creates at
 * the UAS that sends it with local_tag and our Contact local_target. */
sc_dlg_t *sc_dlg_new_uas(const sc_msg_t *req, sc_str_t local_tag, sc_str_t local_target);
/* §12.1.2: the dialog the response resp to the request req we sent
 * creates at the UAC.  NULL when resp has no To tag, or is a 2xx
 * without Contact (a provisional without one targets req's Request-URI). */
sc_dlg_t *sc_dlg_new_uac(const sc_msg_t *req, const sc_msg_t *resp);
void      sc_dlg_free(sc_dlg_t *d);

/* §12.2.1.1: a request in the dialog, without Via: Request-URI and Route
 * from the remote target and route set, From/To with the tags, Call-ID,
 * CSeq (cseq, or the next local number when 0; ACK and CANCEL pass the
 * INVITE's), Max-Forwards.  name is the method as written (empty: the
 * known method's name).  Its next hop is its first Route, else its
 * Request-URI.  NULL when out of memory. */
sc_msg_t *sc_dlg_request(sc_dlg_t *d, sc_method_t method, sc_str_t name, uint32_t cseq);

/* §12.2.2: whether a request received in the dialog is in order.  A CSeq
 * lower than the last received gets 500 (returns false); otherwise the
 * remote number moves up.  ACK and CANCEL are not counted. */
bool sc_dlg_accept_cseq(sc_dlg_t *d, const sc_msg_t *req);
/* §12.2 target refresh (re-INVITE, UPDATE, their 2xx, NOTIFY...): the
 * remote target becomes m's Contact, when it has one. */
void sc_dlg_refresh_target(sc_dlg_t *d, const sc_msg_t *m);

/* §13.2.2.4: the 2xx that confirms an early UAC dialog sets its route
 * set (Record-Route reversed) and remote target anew. */
void sc_dlg_confirm(sc_dlg_t *d, const sc_msg_t *resp);

/* --- the table of dialogs ------------------------------------------- */
typedef struct sc_dlg_table sc_dlg_table_t;

sc_dlg_table_t *sc_dlg_table_new(void);
/* Frees the table, not the dialogs (their owners do). */
void            sc_dlg_table_free(sc_dlg_table_t *t);
void            sc_dlg_table_add(sc_dlg_table_t *t, sc_dlg_t *d);
void            sc_dlg_table_remove(sc_dlg_table_t *t, sc_dlg_t *d);
unsigned        sc_dlg_table_count(const sc_dlg_table_t *t);
/* The dialog a request received belongs to (its To tag is ours, its
 * From tag the peer's), or NULL. */
sc_dlg_t       *sc_dlg_table_match(const sc_dlg_table_t *t, const sc_msg_t *req);
sc_dlg_t       *sc_dlg_table_find(const sc_dlg_table_t *t, sc_str_t call_id, sc_str_t local_tag,
                                  sc_str_t remote_tag);
/* By drachtio's id, or by Call-ID and the creator's From tag. */
sc_dlg_t       *sc_dlg_table_find_id(const sc_dlg_table_t *t, sc_str_t id);
sc_dlg_t       *sc_dlg_table_find_from_tag(const sc_dlg_table_t *t, sc_str_t call_id,
                                           sc_str_t from_tag);

#endif
