/* sip_metrics.h — the SIP counters of the metrics page: requests and
 * responses by direction, method and status class, retransmissions.
 * Series are looked up once and cached per method, so counting costs an
 * array index and an add on the hot path. */
#ifndef SC_SIP_METRICS_H
#define SC_SIP_METRICS_H

#include "sip_msg.h"

typedef enum { SC_SIPM_RX, SC_SIPM_TX } sc_sipm_dir_t;

/* A request (by its method) or a response (by its CSeq method and its
 * status class), received or sent for the first time. */
void sc_sipm_message(sc_sipm_dir_t dir, const sc_msg_t *m);
/* A retransmission received (absorbed) or sent (by a timer, or the last
 * answer again for a retransmitted request). */
void sc_sipm_retransmission(sc_sipm_dir_t dir);

#endif
