/*
 * main.c — the sipchain command line: options, configuration, server.
 * Runs in the foreground and logs to stderr (systemd-friendly).
 */
#include <stdio.h>
#include <string.h>

#include <sipchain.h>

#include "ha1_cmd.h"
#include "sc_auto_config.h"
#include "sc_log.h"
#include "server.h"

#ifndef SC_BUILD_FLAGS
#define SC_BUILD_FLAGS ""
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sipchain [-c FILE] [-t] [-V] [-h] | -a USER REALM\n"
            "  -c FILE  configuration file (default " SC_CONF_FILE ")\n"
            "  -t       test the configuration, print a verdict and exit 0 or 1\n"
            "  -a USER REALM  read a password on stdin, print the users-file line\n"
            "           (ha1, ha1_sha256) for digest-auth\n"
            "  -V       print version, build options and module ABI, then exit\n"
            "  -h       this help\n");
}

int main(int argc, char **argv)
{
    const char *file = SC_CONF_FILE;
    bool test = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-V") == 0) {
            printf("sipchain/%s\nbuilt with: %s\nconfigure: %s\nmodule ABI: %d\n", SC_VERSION,
                   SC_BUILD_FLAGS, SC_CONFIGURE_ARGS, SC_ABI_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-a") == 0 && i + 2 < argc) {
            return sc_ha1_cmd(argv[i + 1], argv[i + 2]);
        } else if (strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-t") == 0) {
            test = true;
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else {
            fprintf(stderr, "sipchain: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 1;
        }
    }
    if (!test) {
        /* the server reads and validates the file itself: one path for
         * start and reload, errors logged with file:line:col */
        int rc = sc_server_run(file);
        sc_log_shutdown();          /* every queued line written before exit */
        return rc;
    }
    /* -t has no side effects and says one thing: the verdict.  Modules'
     * notices (users read, bindings restored) only at level debug;
     * nothing is opened but the files read (no log file, no CDR file). */
    sc_server_conf_t conf;
    char err[1024];
    sc_log_level = SC_LOG_WARN;
    if (sc_server_conf_read(file, &conf, err, sizeof(err)) == 0 && conf.log.level == SC_LOG_DEBUG)
        sc_log_level = SC_LOG_DEBUG;
    if (conf.tree == NULL ||
        sc_server_conf_check_chain(&conf, err, sizeof(err)) != 0) {
        if (conf.tree)
            sc_server_conf_free(&conf);
        printf("sipchain: configuration %s is invalid: %s\n", file, err);
        sc_log_shutdown();          /* the lines kept for a log target that never opened */
        return 1;
    }
    if (sc_server_conf_warning(&conf, err, sizeof(err)))
        printf("sipchain: warning: %s\n", err);
    printf("sipchain: configuration %s is valid\n", file);
    sc_server_conf_free(&conf);
    sc_log_shutdown();
    return 0;
}
