/*
 * wire.c — drachtio framing (see wire.h).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>

#include "wire.h"

int dr_frame_next(struct evbuffer *in, size_t max, char **payload, size_t *len, const char **why)
{
    char head[24];
    size_t have = evbuffer_get_length(in);
    size_t n = have < sizeof(head) ? have : sizeof(head);
    if (n == 0)
        return 0;
    evbuffer_copyout(in, head, n);
    size_t digits = 0, size = 0;
    while (digits < n && head[digits] >= '0' && head[digits] <= '9') {
        size = size * 10 + (size_t)(head[digits] - '0');
        if (++digits > 12 || size > max) {
            *why = "frame longer than max_frame";
            return -1;
        }
    }
    if (digits == n)
        return n == sizeof(head) ? (*why = "no '#' after the length", -1) : 0;
    if (digits == 0 || head[digits] != '#') {
        *why = "a frame must start with its length and '#'";
        return -1;
    }
    if (have < digits + 1 + size)
        return 0;
    char *p = malloc(size + 1);
    if (p == NULL) {
        *why = "out of memory";
        return -1;
    }
    evbuffer_drain(in, digits + 1);
    evbuffer_remove(in, p, size);
    p[size] = '\0';
    *payload = p;
    *len = size;
    return 1;
}

int dr_tokens(char *payload, size_t len, char **tok, int max, sc_str_t *sip)
{
    char *crlf = strstr(payload, "\r\n");
    size_t lead = crlf ? (size_t)(crlf - payload) : len;
    *sip = crlf ? (sc_str_t){ crlf + 2, len - lead - 2 } : (sc_str_t){ payload + len, 0 };
    payload[lead] = '\0';
    int n = 0;
    char *p = payload;
    while (n < max) {
        tok[n++] = p;
        char *bar = strchr(p, '|');
        if (bar == NULL)
            break;
        *bar = '\0';
        p = bar + 1;
    }
    return n;
}

void dr_uuid(char out[37])
{
    unsigned char b[16];
    if (sc_random(b, sizeof(b)) != 0)
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)rand();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

void dr_time(char out[16])
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(out, 16, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
}

void dr_frame_add(struct evbuffer *out, const char *leader, sc_str_t sip, char msgid[37])
{
    char id[37];
    dr_uuid(id);
    if (msgid)
        memcpy(msgid, id, 37);
    size_t len = 36 + 1 + strlen(leader) + (sip.len ? 2 + sip.len : 0);
    evbuffer_add_printf(out, "%zu#%s|%s", len, id, leader);
    if (sip.len) {
        evbuffer_add(out, "\r\n", 2);
        evbuffer_add(out, sip.s, sip.len);
    }
}
