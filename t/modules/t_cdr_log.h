/* t_cdr_log.h — for test modules: every cdr:* event as one log line,
 * "cdr:EVENT source=.. role=.. reason=.. status=.. call-id=..", which
 * the end-to-end tests count in the server log.  Call t_cdr_log_start
 * from the module's start hook. */
#ifndef T_CDR_LOG_H
#define T_CDR_LOG_H

#include <sipchain.h>

static void t_cdr_log(const char *event, const void *data, void *arg)
{
    const sc_cdr_t *cdr = data;
    sc_instance_log(arg, SC_LOG_LEVEL_INFO, "%s source=%s role=%s reason=%s status=%u call-id=%.*s",
                    event, cdr->source, cdr->role ? cdr->role : "-", cdr->reason ? cdr->reason : "-",
                    cdr->status, (int)cdr->call_id.len, cdr->call_id.s);
}

static int t_cdr_log_start(sc_instance_t *inst)
{
    static const char *const evs[] = { "cdr:attempt", "cdr:start", "cdr:stop" };
    for (int i = 0; i < 3; i++)
        if (sc_event_subscribe(inst, evs[i], t_cdr_log, inst) != 0)
            return -1;
    return 0;
}

#endif
