/* msg_internal.h — what msg_parse.c and msg_build.c share and nobody else
 * needs: appending to the header list and re-deriving typed views. */
#ifndef SC_MSG_INTERNAL_H
#define SC_MSG_INTERNAL_H

#include "sip_msg.h"

/* Re-derives the typed view of every header with this id (msg_parse.c);
 * NULL or the reason a value does not parse. */
const char *sc_msg_reindex(sc_msg_t *m, sc_hdr_id_t id);

static inline void sc_msg_link_last(sc_msg_t *m, sc_hdr_t *h)
{
    h->next = NULL;
    h->prev = m->hdr_last;
    if (m->hdr_last)
        m->hdr_last->next = h;
    else
        m->hdr_first = h;
    m->hdr_last = h;
}

#endif
