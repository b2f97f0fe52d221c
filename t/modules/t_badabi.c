/* t_badabi — test module built as if for another ABI: must be refused. */
#include <sipchain.h>

const sc_module_t sc_module = {
    .abi_version = SC_ABI_VERSION + 1,
    .signature = "sipchain-abi/999 ptr8 size8",
    .name = "t_badabi",
    .version = "0",
};
