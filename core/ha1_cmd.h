/* ha1_cmd.h — "sipchain -a USER REALM" (ha1_cmd.c). */
#ifndef SC_HA1_CMD_H
#define SC_HA1_CMD_H

/* Exit status: 0 when the line was printed. */
int sc_ha1_cmd(const char *user, const char *realm);

#endif
