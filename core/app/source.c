/* source.c — sources refused in the kernel, for modules (sipchain.h):
 * the framework's side of core/sip/tp_filter.c.  The set is the
 * server's (a reload keeps it), whichever instance asked. */
#include <sys/socket.h>

#include "chain_impl.h"
#include "tp_filter.h"

int sc_source_refuse(sc_instance_t *inst, const struct sockaddr *addr, unsigned seconds)
{
    (void)inst;
    return sc_tp_filter_refuse(addr, 0, seconds);
}

int sc_source_refuse_net(sc_instance_t *inst, const struct sockaddr *addr, unsigned bits, unsigned seconds)
{
    (void)inst;
    return sc_tp_filter_refuse(addr, bits, seconds);
}

int sc_source_allow_net(sc_instance_t *inst, const struct sockaddr *addr, unsigned bits)
{
    (void)inst;
    return sc_tp_filter_allow(addr, bits);
}

int sc_source_allow(sc_instance_t *inst, const struct sockaddr *addr)
{
    (void)inst;
    return sc_tp_filter_allow(addr, 0);
}
