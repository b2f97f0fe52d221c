/* t_async — test module: holds each request for delay_ms on a timer, then
 * passes it on (sc_next from outside the handler).  Timers still pending
 * at stop are released in destroy, as every async module must. */
#include <stdlib.h>

#include <event2/event.h>
#include <sipchain.h>

typedef struct pending {
    sc_req_t       *req;
    struct event   *ev;
    struct pending *prev, *next;
    struct state   *st;
} pending_t;

typedef struct state {
    unsigned long ms;
    pending_t    *pending;
} state_t;

static int create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "delay_ms", NULL };
    state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -1;
    st->ms = 100;
    sc_instance_set_data(inst, st);
    const sc_conf_node_t *n = sc_conf_get(conf, "delay_ms");
    if (sc_conf_check_keys(conf, keys, err, errlen) || (n && sc_conf_uint(n, 10000, &st->ms, err, errlen)))
        return -1;
    return 0;
}

static void drop(pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->st->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    event_free(p->ev);
    free(p);
}

static void later(evutil_socket_t fd, short what, void *arg)
{
    pending_t *p = arg;
    sc_req_t *req = p->req;
    (void)fd;
    (void)what;
    drop(p);
    sc_next(req);
}

static void handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    state_t *st = sc_instance_data(inst);
    (void)res;
    pending_t *p = calloc(1, sizeof(*p));
    p->req = req;
    p->st = st;
    p->ev = evtimer_new(sc_instance_base(inst), later, p);
    p->next = st->pending;
    if (st->pending)
        st->pending->prev = p;
    st->pending = p;
    struct timeval tv = { .tv_sec = (long)(st->ms / 1000), .tv_usec = (long)(st->ms % 1000) * 1000 };
    evtimer_add(p->ev, &tv);
}

static void destroy(sc_instance_t *inst)
{
    state_t *st = sc_instance_data(inst);
    while (st && st->pending)
        drop(st->pending);
    free(st);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER, .name = "t_async", .version = "0",
    .create = create, .handle = handle, .destroy = destroy,
};
