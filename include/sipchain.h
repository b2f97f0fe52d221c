/*
 * sipchain.h — the one public header: what a module may use.
 *
 * This is the module ABI.  Anything added here is a promise; change the
 * ABI version below whenever a struct a module can see changes layout or a
 * function changes meaning, so that a module built against an older header
 * is refused at load instead of misbehaving.
 *
 * The framework API (chain, requests, UAS/UAC/B2BUA, proxy, dialogs) lands
 * here with the server core; today it holds the types the SIP message layer
 * shares with modules.
 */
#ifndef SIPCHAIN_H
#define SIPCHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SC_ABI_VERSION 1

/* A view into bytes owned by someone else (usually a message's receive
 * buffer).  Never NUL-terminated: SIP bodies and escaped URIs carry NULs. */
typedef struct {
    const char *s;
    size_t      len;
} sc_str_t;

#endif
