/* test_udp_read.c — how a UDP listener reads (core/sip/transport_udp.c):
 * datagrams from several sources queued at once (more than one read
 * batch, more than one loop turn) each reach the callback whole, in
 * order, with their own source address and its text; and the text
 * sc_peer_describe gives an IPv4 address is inet_ntop's. */
#include "sc_test.h"
#include "transport.h"

#include <arpa/inet.h>
#include <unistd.h>

#define SOURCES 3
#define EACH    70          /* 210 datagrams: several batches and turns */

static struct event_base *base;
static int nmsg;
static int seen[SOURCES];
static bool bad;
static uint16_t ports[SOURCES];

static void on_msg(const sc_source_t *src, char *buf, size_t len, void *arg)
{
    (void)arg;
    char text[32];
    int who, seq;
    if (len >= sizeof(text) || src->kind != SC_TP_UDP) {
        bad = true;
        return;
    }
    memcpy(text, buf, len);
    text[len] = '\0';
    /* "<source> <seq>": from the port of that source, in order */
    if (sscanf(text, "%d %d", &who, &seq) != 2 || who < 0 || who >= SOURCES ||
        seq != seen[who] || src->peer.port != ports[who] || strcmp(src->peer.ip, "127.0.0.1") != 0 ||
        src->peer.len != sizeof(struct sockaddr_in)) {
        bad = true;
        return;
    }
    seen[who]++;
    nmsg++;
}

START_TEST(batches_keep_each_source)
{
    base = event_base_new();
    struct sockaddr_in la = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
    int probe = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t ll = sizeof(la);
    ck_assert_int_eq(bind(probe, (struct sockaddr *)&la, ll), 0);
    getsockname(probe, (struct sockaddr *)&la, &ll);
    close(probe);
    char err[128];
    sc_listener_t *l = sc_listen(base, SC_TP_UDP, (struct sockaddr *)&la, ll, NULL, NULL, on_msg,
                                 NULL, err, sizeof(err));
    ck_assert_msg(l != NULL, "%s", err);

    int fds[SOURCES];
    for (int s = 0; s < SOURCES; s++) {
        struct sockaddr_in me = { .sin_family = AF_INET };
        socklen_t ml = sizeof(me);
        inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
        fds[s] = socket(AF_INET, SOCK_DGRAM, 0);
        ck_assert_int_eq(bind(fds[s], (struct sockaddr *)&me, ml), 0);
        getsockname(fds[s], (struct sockaddr *)&me, &ml);
        ports[s] = ntohs(me.sin_port);
    }
    /* all queued before the loop runs: interleaved sources in each batch */
    for (int i = 0; i < EACH; i++)
        for (int s = 0; s < SOURCES; s++) {
            char m[32];
            int n = snprintf(m, sizeof(m), "%d %d", s, i);
            ck_assert_int_eq(sendto(fds[s], m, (size_t)n, 0, (struct sockaddr *)&la, ll), n);
        }
    for (int i = 0; i < 50 && nmsg < SOURCES * EACH; i++) {
        struct timeval tv = { 0, 20000 };
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    ck_assert(!bad);
    ck_assert_int_eq(nmsg, SOURCES * EACH);
    for (int s = 0; s < SOURCES; s++)
        close(fds[s]);
    sc_listener_free(l);
    event_base_free(base);
}
END_TEST

START_TEST(ipv4_text_is_inet_ntop)
{
    static const char *const addrs[] = { "0.0.0.0", "1.2.3.4", "9.10.99.100", "127.0.0.1",
                                         "192.0.2.255", "255.255.255.255", "10.200.0.9" };
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        sc_peer_t p = { .len = sizeof(struct sockaddr_in) };
        struct sockaddr_in *a = (struct sockaddr_in *)&p.addr;
        a->sin_family = AF_INET;
        a->sin_port = htons(5060);
        inet_pton(AF_INET, addrs[i], &a->sin_addr);
        sc_peer_describe(&p);
        ck_assert_str_eq(p.ip, addrs[i]);
        ck_assert_uint_eq(p.port, 5060);
    }
    for (unsigned v = 0; v < 256; v++) {       /* every octet value, in each place */
        sc_peer_t p = { .len = sizeof(struct sockaddr_in) };
        struct sockaddr_in *a = (struct sockaddr_in *)&p.addr;
        a->sin_family = AF_INET;
        unsigned char *b = (unsigned char *)&a->sin_addr;
        b[0] = (unsigned char)v, b[1] = (unsigned char)(255 - v), b[2] = (unsigned char)(v * 7),
        b[3] = (unsigned char)(v ^ 0x5a);
        char want[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a->sin_addr, want, sizeof(want));
        sc_peer_describe(&p);
        ck_assert_str_eq(p.ip, want);
    }
}
END_TEST

static Suite *udp_read_suite(void)
{
    Suite *s = suite_create("udp_read");
    TCase *tc = tcase_create("udp_read");
    tcase_add_test(tc, batches_keep_each_source);
    tcase_add_test(tc, ipv4_text_is_inet_ntop);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(udp_read_suite)
