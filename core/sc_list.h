/*
 * sc_list.h — one intrusive doubly linked list for every "things in
 * flight" set (requests waiting, outstanding requests, proxies, calls,
 * dialogs and their requests): O(1) insert and removal from the middle,
 * no allocation, a count kept with it.  An element embeds an sc_link_t
 * and is found back from it with sc_container_of.
 */
#ifndef SC_LIST_H
#define SC_LIST_H

#include <stddef.h>

typedef struct sc_link {
    struct sc_link *prev, *next;
} sc_link_t;

typedef struct {
    sc_link_t *head;
    unsigned   n;
} sc_list_t;

#define sc_container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))
/* The first element of l as a type *, or NULL when l is empty. */
#define sc_list_first(l, type, member) \
    ((l)->head ? sc_container_of((l)->head, type, member) : (type *)NULL)
/* The element after e (a type * linked through member), or NULL. */
#define sc_list_next(e, type, member) \
    ((e)->member.next ? sc_container_of((e)->member.next, type, member) : (type *)NULL)

static inline void sc_list_push(sc_list_t *l, sc_link_t *e)
{
    e->prev = NULL;
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    l->head = e;
    l->n++;
}

static inline void sc_list_remove(sc_list_t *l, sc_link_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    l->n--;
}

#endif
