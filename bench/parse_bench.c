/*
 * parse_bench.c — nanoseconds per message for the SIP parser: a typical
 * INVITE as a phone sends it (~800 octets), the same INVITE after two
 * proxies (two Via, Route, Record-Route), a REGISTER with digest
 * credentials, and a 200 OK; every header the stack needs is parsed.  Each figure is parse + free (one pool
 * per message, as the server does), best of several rounds to discount
 * noise from the other core.  Reports; asserts nothing about time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sip_msg.h"

/* What a phone sends to its first proxy: one Via, no Route. */
static const char invite_ua[] =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: \"Bob\" <sip:bob@biloxi.example.com>\r\n"
    "From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.101:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY\r\n"
    "Supported: replaces, 100rel, timer\r\n"
    "User-Agent: sipchain-bench/1.0\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 228\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n";

/* The same call two proxies further on: two Via, Route, Record-Route. */
static const char invite[] =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.101\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    "Record-Route: <sip:p3.example.com;lr>\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"\r\n"
    "Supported: replaces, 100rel, timer, path\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY\r\n"
    "User-Agent: sipchain-bench/1.0\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 149\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

static const char reg[] =
    "REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n"
    "Call-ID: 843817637684230@998sdasdh09\r\n"
    "CSeq: 1826 REGISTER\r\n"
    "Contact: <sip:bob@192.0.2.4>;expires=7200\r\n"
    "Authorization: Digest username=\"bob\", realm=\"biloxi.example.com\", "
    "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:registrar.biloxi.example.com\", "
    "qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", "
    "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=MD5\r\n"
    "Expires: 7200\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static const char ok200[] =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP server10.biloxi.example.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
    "Record-Route: <sip:server10.biloxi.example.com;lr>\r\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:bob@192.0.2.4>\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double bench(const char *name, const char *text, size_t len, long iters)
{
    char *buf = malloc(len);
    memcpy(buf, text, len);
    double best = 1e18;
    for (int round = 0; round < 7; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            sc_msg_t *m;
            sc_parse_err_t err;
            if (sc_msg_parse(&m, buf, len, SC_TRANSPORT_DGRAM, NULL, &err) != 0 ||
                m->body.s + m->body.len != buf + len) {
                fprintf(stderr, "%s does not parse whole: %s\n", name, err.reason);
                exit(1);
            }
            sc_msg_free(m);
        }
        double per = (now_ns() - t0) / iters;
        if (per < best)
            best = per;
    }
    printf("%-10s %5zu octets  %8.0f ns/message  %10.0f messages/s\n", name, len, best, 1e9 / best);
    free(buf);
    return best;
}

/* parse_bench [ITERATIONS [invite-ua|invite|register|200]] */
int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    const char *only = argc > 2 ? argv[2] : "";
    printf("sipchain parser, best of 7 rounds of %ld parses each (parse + free)\n", iters);
    if (!*only || strcmp(only, "invite-ua") == 0)
        bench("INVITE-UA", invite_ua, sizeof(invite_ua) - 1, iters);
    if (!*only || strcmp(only, "invite") == 0)
        bench("INVITE", invite, sizeof(invite) - 1, iters);
    if (!*only || strcmp(only, "register") == 0)
        bench("REGISTER", reg, sizeof(reg) - 1, iters);
    if (!*only || strcmp(only, "200") == 0)
        bench("200 OK", ok200, sizeof(ok200) - 1, iters);
    return 0;
}
