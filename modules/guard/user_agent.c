/* user_agent.c — refusing scanners by their User-Agent.  The default
 * patterns are the names the common SIP scanners and brute-force tools
 * send (SIPVicious and its "friendly-scanner", sipcli, sundayddr, ...); a
 * "user_agents:" list replaces them ([] turns the check off).  A header
 * is trivial to change, so this only keeps the noise of the lazy ones
 * out of the logs: the rate and failure limits are the defence. */
#include <stddef.h>
#include <strings.h>

#include "guard.h"

const char *const guard_default_user_agents[] = {
    "friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent", "sip-scan", "sundayddr",
    "iWar", "SIVuS", "smap", "pplsip", NULL,
};

/* strcasestr over a view (the header is not NUL-terminated) */
static bool contains(sc_str_t h, const char *p)
{
    size_t n = 0;
    while (p[n])
        n++;
    for (size_t i = 0; i + n <= h.len; i++)
        if (strncasecmp(h.s + i, p, n) == 0)
            return true;
    return false;
}

bool guard_user_agent_refused(const guard_conf_t *c, sc_str_t ua)
{
    if (ua.len == 0)
        return false;
    for (size_t i = 0; i < c->nuser_agents; i++)
        if (contains(ua, c->user_agents[i]))
            return true;
    return false;
}
