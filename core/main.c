/*
 * main.c — the sipchain process: options, then the server.
 */
#include <stdio.h>
#include <string.h>

#include <sipchain.h>
#include "sc_auto_config.h"

#ifndef SC_BUILD_FLAGS
#define SC_BUILD_FLAGS ""
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sipchain [-c FILE] [-t] [-V] [-h]\n"
            "  -c FILE  configuration file (default conf/sipchain.yaml)\n"
            "  -t       test the configuration and exit\n"
            "  -V       print version, build options and module ABI, then exit\n"
            "  -h       this help\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-V") == 0) {
            printf("sipchain/%s\nbuilt with: %s\nconfigure: %s\nmodule ABI: %d\n",
                   SC_VERSION, SC_BUILD_FLAGS, SC_CONFIGURE_ARGS, SC_ABI_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    usage(stderr);
    return 1;
}
