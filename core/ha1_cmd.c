/*
 * ha1_cmd.c — "sipchain -a USER REALM": reads the password from stdin
 * (without echo on a terminal) and prints the users-file line for
 * digest-auth, so passwords need not be stored in clear.
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "digest.h"
#include "ha1_cmd.h"

int sc_ha1_cmd(const char *user, const char *realm)
{
    char pw[1024];
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "password for %s in %s: ", user, realm);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *got = fgets(pw, sizeof(pw), stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (got == NULL) {
        fprintf(stderr, "sipchain: no password on stdin\n");
        return 1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    char md5[65], sha[65];
    sc_str_t parts[3] = { sc_str_cstr(user), sc_str_cstr(realm), sc_str_cstr(pw) };
    sc_digest_hex(SC_DIGEST_MD5, parts, 3, md5);
    sc_digest_hex(SC_DIGEST_SHA256, parts, 3, sha);
    memset(pw, 0, sizeof(pw));
    printf("%s: { ha1: \"%s\", ha1_sha256: \"%s\" }   # realm %s\n", user, md5, sha, realm);
    return 0;
}
