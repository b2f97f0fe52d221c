/* sd_notify.h — readiness and reload notices to the service manager.
 *
 * The sd_notify(3) protocol by hand (a datagram of "KEY=value" lines to
 * the unix socket named by $NOTIFY_SOCKET), so that sipchain needs no
 * libsystemd and runs the same outside systemd, where it is a no-op. */
#ifndef SC_SD_NOTIFY_H
#define SC_SD_NOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=serving") when $NOTIFY_SOCKET is
 * set; 0 when sent or nothing to send to, -1 when the send failed. */
int sc_sd_notify(const char *state);

/* "RELOADING=1" with the MONOTONIC_USEC systemd wants beside it. */
int sc_sd_notify_reloading(void);

#endif
