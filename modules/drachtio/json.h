/*
 * json.h — a small JSON reader for the routing answers of a
 * request-handler (router.c): {"action": ..., "data": {...}}.  A tree of
 * nodes, one malloc each; bounded nesting.  Only what the answers need:
 * no streaming, numbers as doubles.
 */
#ifndef DR_JSON_H
#define DR_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum { DJ_NULL, DJ_BOOL, DJ_NUM, DJ_STR, DJ_ARR, DJ_OBJ };

typedef struct dr_json {
    int             type;
    char           *key;        /* a member's name (in an object) */
    char           *str;        /* DJ_STR, NUL-terminated UTF-8 */
    double          num;
    bool            b;
    struct dr_json *child;      /* DJ_ARR / DJ_OBJ: the first element */
    struct dr_json *next;
} dr_json_t;

/* The document in s[0..len), or NULL with why set (what was wrong). */
dr_json_t       *dr_json_parse(const char *s, size_t len, const char **why);
void             dr_json_free(dr_json_t *j);
/* An object's member by name, NULL when absent or j is not an object. */
const dr_json_t *dr_json_get(const dr_json_t *j, const char *key);

#endif
