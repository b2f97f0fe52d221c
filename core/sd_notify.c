/* sd_notify.c — see sd_notify.h. */
#include "sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int sc_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t n = strlen(path);
    /* '@' names a socket in the abstract namespace (a leading NUL) */
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path))
        return -1;
    memcpy(sun.sun_path, path, n);
    if (path[0] == '@')
        sun.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t r;
    do
        r = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    while (r < 0 && errno == EINTR);
    close(fd);
    return r < 0 ? -1 : 0;
}

int sc_sd_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return sc_sd_notify(msg);
}
