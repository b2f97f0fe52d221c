/* sc_json.h — writing JSON strings, reading a flat JSON object (the status page, CDR-like output):
 * the one place that knows which characters JSON wants escaped. */
#ifndef SC_JSON_H
#define SC_JSON_H

#include <stdio.h>

/* s as a JSON string, quotes included; control characters as \u00XX. */
void sc_json_string(FILE *f, const char *s);

/* Reads body as one flat JSON object (values: strings, numbers, true,
 * false, null) and copies the string member key (no escapes) into out.
 * 0 found; 1 absent; -1 not such an object, or key not a string that
 * fits: err names the defect. */
int  sc_json_field(const char *body, size_t len, const char *key, char *out, size_t cap, char *err,
                   size_t errlen);

#endif
