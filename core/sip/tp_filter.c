/* tp_filter.c — sources refused in the kernel (tp_filter.h).
 *
 * The program for an IPv4 socket loads the source address of the IP
 * header (SKF_NET_OFF + 12: the filter of a UDP socket runs with the
 * data at the UDP header, the network header is reached through the
 * negative offset) and compares it with each refused address:
 *
 *     ld  [net+12]
 *     jeq a1, drop      ... one jeq per address
 *     ret #-1           accept
 *     drop: ret #0
 *
 * For IPv6 the source is four words at SKF_NET_OFF + 8 .. 23; each
 * address (or prefix: the words it covers, the last one masked) is a
 * block that jumps to the next block at the first word that differs,
 * and ends in its own drop.
 * BPF loads words in network order as host integers: the addresses are
 * compared as ntohl of each word. */
#include "tp_filter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sc_log.h"
#include "sc_metrics.h"

typedef struct {
    int      family;        /* AF_INET, AF_INET6 */
    uint8_t  a[16];         /* bits past the prefix are 0 */
    unsigned bits;          /* prefix length: 32 for IPv4, 1-128 for IPv6 */
    uint64_t until_ms;      /* 0: until allowed */
} refused_t;

typedef struct {
    int fd, family;
} sock_t;

static refused_t          set[2 * SC_TP_FILTER_MAX];
static size_t             nset;
static sock_t            *socks;
static size_t             nsocks, capsocks;
static struct event_base *base;
static struct event      *timer;
static uint64_t           attached_ms;      /* when the program was last attached */
static bool               dirty, attached_once;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t word(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t sc_tp_filter_build(int family, const uint8_t (*addrs)[16], const unsigned *bits, size_t n,
                          struct sock_filter *out, size_t cap)
{
    size_t k = 0;
    if (n > SC_TP_FILTER_MAX || cap < SC_TP_FILTER_INSNS(n))
        return 0;
    if (family == AF_INET) {
        out[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_NET_OFF + 12);
        for (size_t i = 0; i < n; i++)      /* to drop: past the rest and the accept */
            out[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, word(addrs[i]),
                                                    (uint8_t)(n - i), 0);
        out[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
        out[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
        return k;
    }
    if (family != AF_INET6)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned b = bits && bits[i] && bits[i] < 128 ? bits[i] : 128;
        size_t jumps[4], nj = 0;
        for (unsigned w = 0; w * 32 < b; w++) {
            unsigned left = b - w * 32;
            uint32_t mask = left >= 32 ? 0xffffffffu : ~(0xffffffffu >> left);
            out[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_NET_OFF + 8 + 4 * w);
            if (mask != 0xffffffffu)
                out[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask);
            jumps[nj++] = k;
            out[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, word(addrs[i] + 4 * w) & mask,
                                                    0, 0);
        }
        out[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
        /* a word that differs: on to the next block, past this one's drop */
        for (size_t j = 0; j < nj; j++)
            out[jumps[j]].jf = (uint8_t)(k - jumps[j] - 1);
    }
    out[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
    return k;
}

static int attach(int fd, int family)
{
    uint8_t addrs[SC_TP_FILTER_MAX][16];
    unsigned bits[SC_TP_FILTER_MAX];
    size_t n = 0;
    for (size_t i = 0; i < nset; i++)
        if (set[i].family == family) {
            bits[n] = set[i].bits;
            memcpy(addrs[n++], set[i].a, 16);
        }
    if (n == 0) {
        int none = 0;           /* the option wants an int, though it reads none */
        if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &none, sizeof(none)) != 0 && errno != ENOENT)
            return -1;
        return 0;
    }
    static struct sock_filter prog[SC_TP_FILTER_INSNS(SC_TP_FILTER_MAX)];
    size_t len = sc_tp_filter_build(family, (const uint8_t (*)[16])addrs, bits, n, prog,
                                    sizeof(prog) / sizeof(prog[0]));
    struct sock_fprog fp = { .len = (unsigned short)len, .filter = prog };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp));
}

static void expire(uint64_t now)
{
    for (size_t i = 0; i < nset;)
        if (set[i].until_ms && set[i].until_ms <= now) {
            set[i] = set[--nset];
            dirty = true;
        } else {
            i++;
        }
}

static void apply(uint64_t now)
{
    for (size_t i = 0; i < nsocks; i++)
        if (attach(socks[i].fd, socks[i].family) != 0)
            sc_log(SC_LOG_WARN, "cannot attach the refused sources' filter to a UDP socket: %s",
                   strerror(errno));
    attached_ms = now;
    attached_once = true;
    dirty = false;
    sc_metric_set(sc_metric_gauge("sipchain_kernel_refused_sources",
                                  "source addresses whose datagrams the kernel drops", NULL),
                  (int64_t)nset);
}

static void schedule(void);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    schedule();
}

/* Applies the set now when it changed and the last attach is long
 * enough ago; otherwise (and for the next expiry) arms the timer. */
static void schedule(void)
{
    uint64_t now = now_ms();
    expire(now);
    if (dirty && (!attached_once || now >= attached_ms + SC_TP_FILTER_MIN_MS))
        apply(now);
    uint64_t next = 0;
    if (dirty)
        next = attached_ms + SC_TP_FILTER_MIN_MS;
    for (size_t i = 0; i < nset; i++)
        if (set[i].until_ms && (next == 0 || set[i].until_ms < next))
            next = set[i].until_ms;
    if (base == NULL)
        return;
    if (timer == NULL && (timer = evtimer_new(base, on_timer, NULL)) == NULL)
        return;
    if (next == 0) {
        evtimer_del(timer);
        return;
    }
    uint64_t d = next > now ? next - now : 0;
    struct timeval tv = { (time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000 };
    evtimer_add(timer, &tv);
}

void sc_tp_filter_add_fd(struct event_base *b, int fd, int family)
{
    if (family != AF_INET && family != AF_INET6)
        return;
    if (base == NULL)
        base = b;
    if (nsocks == capsocks) {
        size_t cap = capsocks ? 2 * capsocks : 8;
        sock_t *s = realloc(socks, cap * sizeof(*s));
        if (s == NULL)
            return;
        socks = s, capsocks = cap;
    }
    socks[nsocks++] = (sock_t){ fd, family };
    if (nset && attach(fd, family) != 0)
        sc_log(SC_LOG_WARN, "cannot attach the refused sources' filter to a UDP socket: %s",
               strerror(errno));
    if (nset)
        schedule();             /* the expiry timer, lost when the last socket went */
}

void sc_tp_filter_remove_fd(int fd)
{
    for (size_t i = 0; i < nsocks; i++)
        if (socks[i].fd == fd) {
            socks[i] = socks[--nsocks];
            break;
        }
    if (nsocks == 0) {
        free(socks);
        socks = NULL;
        capsocks = 0;
        if (timer)
            event_free(timer);
        timer = NULL;
        base = NULL;
    }
}

/* addr's family and address octets; -1 when neither IPv4 nor IPv6 (an
 * IPv4-mapped IPv6 address is its IPv4 address) */
static int key_of(const struct sockaddr *addr, unsigned bits, int *family, uint8_t a[16], unsigned *kbits)
{
    memset(a, 0, 16);
    if (addr == NULL)
        return -1;
    if (addr->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
        *family = AF_INET;
        *kbits = 32;
        return 0;
    }
    if (addr->sa_family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            memcpy(a, v6->s6_addr + 12, 4);
            *family = AF_INET;
        } else {
            memcpy(a, v6->s6_addr, 16);
            *family = AF_INET6;
        }
        if (*family == AF_INET6 && bits && bits < 128) {
            for (unsigned i = 0; i < 16; i++)
                if (i * 8 >= bits)
                    a[i] = 0;
                else if (i * 8 + 8 > bits)
                    a[i] &= (uint8_t)(0xff << (8 - (bits - i * 8)));
            *kbits = bits;
        } else {
            *kbits = *family == AF_INET ? 32 : 128;
        }
        return 0;
    }
    return -1;
}

static refused_t *find(int family, const uint8_t a[16], unsigned bits)
{
    for (size_t i = 0; i < nset; i++)
        if (set[i].family == family && set[i].bits == bits && memcmp(set[i].a, a, 16) == 0)
            return &set[i];
    return NULL;
}

int sc_tp_filter_refuse(const struct sockaddr *addr, unsigned bits, unsigned seconds)
{
    int family;
    uint8_t a[16];
    unsigned kbits;
    if (key_of(addr, bits, &family, a, &kbits) != 0)
        return -1;
    uint64_t until = seconds ? now_ms() + (uint64_t)seconds * 1000 : 0;
    refused_t *r = find(family, a, kbits);
    if (r) {
        r->until_ms = until;            /* a new expiry: the program is the same */
        schedule();
        return 1;
    }
    size_t same = 0;
    for (size_t i = 0; i < nset; i++)
        same += set[i].family == family;
    if (same >= SC_TP_FILTER_MAX)
        return 0;
    set[nset].family = family;
    set[nset].bits = kbits;
    memcpy(set[nset].a, a, 16);
    set[nset].until_ms = until;
    nset++;
    dirty = true;
    schedule();
    return 1;
}

int sc_tp_filter_allow(const struct sockaddr *addr, unsigned bits)
{
    int family;
    uint8_t a[16];
    unsigned kbits;
    if (key_of(addr, bits, &family, a, &kbits) != 0)
        return -1;
    refused_t *r = find(family, a, kbits);
    if (r == NULL)
        return -1;
    *r = set[--nset];
    dirty = true;
    schedule();
    return 0;
}

size_t sc_tp_filter_count(void)
{
    return nset;
}
