/* sc_json.h — writing JSON strings (the status page, CDR-like output):
 * the one place that knows which characters JSON wants escaped. */
#ifndef SC_JSON_H
#define SC_JSON_H

#include <stdio.h>

/* s as a JSON string, quotes included; control characters as \u00XX. */
void sc_json_string(FILE *f, const char *s);

#endif
