/*
 * flood.c — a hostile UDP source for the guard benchmark
 * (bench/guard_cost.pl, BENCHMARKS.md): datagrams from one address to a
 * SIP server, at a set rate, for a bounded time and count.
 *
 *   flood -t HOST:PORT [-s SRCIP] [-r PER_SECOND] [-d SECONDS] [-n COUNT]
 *         [-g GARBAGE_PERCENT] [-u USER_AGENT] [-b BATCH]
 *
 * Each datagram is garbage (a line no parser takes: the server drops it
 * and counts a parse error) or a scanner's OPTIONS (well formed, a fresh
 * branch and Call-ID each, so the guard must refuse it: over the rate,
 * then blocked; with -u, a User-Agent it knows).  -g says what share is
 * garbage (default 100).  Sent with sendmmsg in batches of -b (default
 * 32), paced against the clock in 1 ms steps (more than 5 ms behind, as
 * when the sender was off the CPU, it does not catch up in a burst: the
 * pace restarts and the slip is counted); it stops at -d seconds
 * (default 5, at most 600) or -n datagrams (default and ceiling
 * 100 000 000), whichever comes first.  Prints one line:
 * "sent N in S s: R/s (E send errors, I ICMP unreachable, K times more
 * than 5 ms behind)".  A full socket buffer on the
 * sending side (ENOBUFS, EAGAIN) is counted as an error, not retried, so
 * the rate printed is what left.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* sendmmsg */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define MSG_MAX   768

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses "a.b.c.d:port" into sa; 0 or -1. */
static int parse_target(const char *text, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 && sa->sin_port ? 0 : -1;
}

/* The datagram of sequence number seq into buf: garbage or an OPTIONS
 * whose branch, tag and Call-ID carry seq (so no two are alike, as a
 * scanner's are not).  Returns its length. */
static size_t build(char *buf, unsigned long seq, int garbage, const char *src, const char *dst,
                    const char *ua)
{
    int n;
    if (garbage)
        n = snprintf(buf, MSG_MAX,
                     "GARBAGE %010lu xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n",
                     seq);
    else
        n = snprintf(buf, MSG_MAX,
                     "OPTIONS sip:100@%s SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK%010lu\r\n"
                     "From: <sip:100@%s>;tag=%010lu\r\n"
                     "To: <sip:100@%s>\r\n"
                     "Call-ID: %010lu@%s\r\n"
                     "CSeq: 1 OPTIONS\r\n"
                     "Max-Forwards: 70\r\n"
                     "%s%s%s"
                     "Accept: application/sdp\r\n"
                     "Content-Length: 0\r\n\r\n",
                     dst, src, seq, src, seq, dst, seq, src, ua ? "User-Agent: " : "",
                     ua ? ua : "", ua ? "\r\n" : "");
    return n < 0 ? 0 : (size_t)n < MSG_MAX ? (size_t)n : MSG_MAX - 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: flood -t HOST:PORT [-s SRCIP] [-r PER_SECOND] [-d SECONDS] [-n COUNT]\n"
                    "             [-g GARBAGE_PERCENT] [-u USER_AGENT] [-b BATCH]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *target = NULL, *src = "127.0.0.1", *ua = NULL;
    double rate = 10000, secs = 5;
    unsigned long count = 100000000UL;
    int garbage_pct = 100, batch = 32, c;
    while ((c = getopt(argc, argv, "t:s:r:d:n:g:u:b:")) != -1) {
        switch (c) {
        case 't': target = optarg; break;
        case 's': src = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'n': count = strtoul(optarg, NULL, 10); break;
        case 'g': garbage_pct = atoi(optarg); break;
        case 'u': ua = optarg; break;
        case 'b': batch = atoi(optarg); break;
        default: usage();
        }
    }
    struct sockaddr_in to, from;
    if (target == NULL || parse_target(target, &to) < 0 || rate <= 0 || secs <= 0 || secs > 600 ||
        count == 0 || count > 100000000UL || garbage_pct < 0 || garbage_pct > 100 || batch < 1 ||
        batch > MAX_BATCH)
        usage();
    memset(&from, 0, sizeof(from));
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, src, &from.sin_addr) != 1)
        usage();
    char dst[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &to.sin_addr, dst, sizeof(dst));

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
        perror("flood: socket");
        return 1;
    }

    static char bufs[MAX_BATCH][MSG_MAX];
    struct mmsghdr mm[MAX_BATCH];
    struct iovec iov[MAX_BATCH];
    unsigned long sent = 0, errors = 0, refused_total = 0;
    double t0 = now(), t = t0, end = t0 + secs;
    double paced = t0;                  /* the clock the pace follows */
    unsigned long base = 0, slips = 0;  /* sent when it was last reset */
    while (sent < count && t < end) {
        /* What the clock allows by now, in whole batches.  Descheduled
         * for a while, the sender does not make up for it with a burst
         * of ten times the rate (no link delivers that): more than 5 ms
         * behind, the pace starts again from now. */
        unsigned long due = base + (unsigned long)((t - paced) * rate) + (unsigned long)batch;
        if (due > sent + (unsigned long)(rate * 0.005) + (unsigned long)batch) {
            paced = t;
            base = sent;
            slips++;
            continue;
        }
        if (due > count)
            due = count;
        if (sent + (unsigned long)batch > due) {
            struct timespec ms = { 0, 1000000 };
            nanosleep(&ms, NULL);
            t = now();
            continue;
        }
        unsigned long k = due - sent < (unsigned long)batch ? due - sent : (unsigned long)batch;
        for (unsigned long i = 0; i < k; i++) {
            unsigned long seq = sent + i;
            int garbage = (int)(seq % 100) < garbage_pct;
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = build(bufs[i], seq, garbage, src, dst, ua);
            memset(&mm[i], 0, sizeof(mm[i]));
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        /* sendmmsg stops short when a datagram after the first fails
         * (the error comes with the next call); a connected socket's
         * pending ICMP error fails one call and is gone: sent again */
        for (unsigned long done = 0, refused = 0; done < k;) {
            int r = sendmmsg(fd, mm + done, (unsigned)(k - done), 0);
            if (r < 0 && errno == ECONNREFUSED && ++refused < 4) {
                refused_total++;    /* an ICMP error for an earlier one, reported now */
                continue;
            }
            if (r < 0) {
                if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
                    perror("flood: sendmmsg");
                    return 1;
                }
                errors += k - done;
                break;
            }
            done += (unsigned long)r;
        }
        sent += k;      /* a refused one is not sent again: the pace stays the clock's */
        t = now();
    }
    double took = t - t0;
    printf("sent %lu in %.2f s: %.0f/s (%lu send errors, %lu ICMP unreachable, %lu times more "
           "than 5 ms behind)\n",
           sent - errors, took, (double)(sent - errors) / took, errors, refused_total, slips);
    return 0;
}
