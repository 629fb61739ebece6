/* A program built against the installed library only (include/llmux.h + pkg-config): it must
 * compile, link and run without anything from the source tree. */
#include <llmux.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    if (llmux_version_num() != LLMUX_VERSION_NUM) return 1;
    llmux_runtime_params p = llmux_runtime_default_params();
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    if (llmux_runtime_create(&p, &rt, &err) != LLMUX_OK) return 2;
    char *json = NULL;
    if (llmux_runtime_targets(rt, &json, &err) != LLMUX_OK || strcmp(json, "[]") != 0) return 3;
    llmux_free(json);
    llmux_runtime_destroy(rt);
    printf("llmux %s %s\n", llmux_version(), llmux_status_name(LLMUX_E_RATE_LIMITED));
    return 0;
}
