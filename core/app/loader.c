/*
 * loader.c — loading a module (DESIGN §4): dlopen with RTLD_LOCAL so
 * modules cannot see or clash with each other's symbols, one exported
 * symbol "sc_module", and a check of the ABI version and build signature
 * that refuses a mismatch with a sentence naming both sides.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chain_impl.h"

/* modules_path is a list of directories separated by ':' (as PATH): the
 * first that holds NAME.so is the one loaded, so an out-of-tree module
 * can sit in a directory of its own listed before the built-in one. */
const sc_module_t *sc_module_load(const char *modules_path, const char *name, void **dl,
                                  char *why, size_t whylen)
{
    char path[1024];
    for (const char *p = name; *p; p++)
        if (!(sc_is((unsigned char)*p, SC_C_TOKEN)) || *p == '/' || *p == '%') {
            snprintf(why, whylen, "module name \"%s\" may hold letters, digits, '-', '_' and '.' only", name);
            return NULL;
        }
    size_t used = (size_t)snprintf(why, whylen, "unknown module \"%s\": cannot load", name);
    *dl = NULL;
    for (const char *d = modules_path; *dl == NULL; d++) {
        const char *end = strchr(d, ':');
        size_t dlen = end ? (size_t)(end - d) : strlen(d);
        if (snprintf(path, sizeof(path), "%.*s/%s.so", (int)dlen, d, name) >= (int)sizeof(path)) {
            snprintf(why, whylen, "module path too long");
            return NULL;
        }
        bool there = access(path, F_OK) == 0;
        *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (*dl == NULL) {
            const char *e = dlerror();
            if (used < whylen)
                used += (size_t)snprintf(why + used, whylen - used, "%s %s: %s", d == modules_path ? "" : ";",
                                         path, e ? e : "unknown error");
            if (there || end == NULL)   /* one that is there but broken: said, not skipped */
                return NULL;
            d = end;
        }
    }
    const sc_module_t *m = dlsym(*dl, "sc_module");
    if (m == NULL) {
        snprintf(why, whylen, "%s is not a sipchain module (no \"sc_module\" symbol)", path);
        goto fail;
    }
    if (m->abi_version != SC_ABI_VERSION || m->signature == NULL ||
        strcmp(m->signature, SC_MODULE_SIGNATURE) != 0) {
        snprintf(why, whylen,
                 "module \"%s\" (%s) was built for module ABI %u (\"%s\"); this sipchain "
                 "has ABI %u (\"%s\"): rebuild the module against this sipchain.h",
                 name, path, (unsigned)m->abi_version, m->signature ? m->signature : "none",
                 (unsigned)SC_ABI_VERSION, SC_MODULE_SIGNATURE);
        goto fail;
    }
    if (m->name == NULL || strcmp(m->name, name) != 0) {
        snprintf(why, whylen, "%s calls itself \"%s\", not \"%s\"", path,
                 m->name ? m->name : "(nothing)", name);
        goto fail;
    }
    return m;
fail:
    dlclose(*dl);
    *dl = NULL;
    return NULL;
}
