/* gguf_quantize: converts a GGUF model to another tensor type with llama.cpp's quantizer
 * (llama_model_quantize). Used by scripts/make-default-model.sh to turn the trained F32 model
 * into the bundled Q8_0 file.
 *
 *   gguf_quantize IN.gguf OUT.gguf f16|q8_0|q4_k [threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: gguf_quantize IN.gguf OUT.gguf f16|q8_0|q4_k [threads]\n");
        return 2;
    }
    struct llama_model_quantize_params qp = llama_model_quantize_default_params();
    if (strcmp(argv[3], "f16") == 0) qp.ftype = LLAMA_FTYPE_MOSTLY_F16;
    else if (strcmp(argv[3], "q8_0") == 0) qp.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
    else if (strcmp(argv[3], "q4_k") == 0) qp.ftype = LLAMA_FTYPE_MOSTLY_Q4_K_M;
    else {
        fprintf(stderr, "gguf_quantize: unknown type \"%s\"\n", argv[3]);
        return 2;
    }
    qp.nthread = argc > 4 ? atoi(argv[4]) : 0;
    llama_log_set(quiet, NULL);
    llama_backend_init();
    uint32_t rc = llama_model_quantize(argv[1], argv[2], &qp);
    llama_backend_free();
    if (rc != 0) {
        fprintf(stderr, "gguf_quantize: failed to convert %s\n", argv[1]);
        return 1;
    }
    return 0;
}
