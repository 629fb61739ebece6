/* Tokenizer conformance: the vocab-only GGUF files that llama.cpp's source ships in models/, with
 * their .inp (inputs separated by "\n__ggml_vocab_test__\n") and .out (one line of token ids per
 * input) expectations, tokenized through lx_model_tokenize exactly as llama.cpp's own
 * test-tokenizer-0 does (no special tokens added, no special parsing). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"

#define MAX_FILE (8u << 20)

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Returns the number of mismatching cases (0 = all good); -1 when the files are unusable. */
static int check_vocab(const char *gguf, int *n_cases) {
    char inp_path[4096], out_path[4096];
    snprintf(inp_path, sizeof inp_path, "%s.inp", gguf);
    snprintf(out_path, sizeof out_path, "%s.out", gguf);
    size_t inp_len = 0, out_len = 0;
    char *inp = slurp(inp_path, &inp_len);
    char *out = slurp(out_path, &out_len);
    if (!inp || !out) {
        free(inp);
        free(out);
        return -1;
    }
    lx_model_params p = lx_model_default_params();
    p.path = gguf;
    p.vocab_only = true;
    lx_model *m = NULL;
    llmux_error_info err;
    assert_int_equal(lx_model_load(&p, &m, &err), LLMUX_OK);

    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sep_len = strlen(sep);
    char *in_cur = inp, *out_cur = out;
    int bad = 0;
    *n_cases = 0;
    int32_t *toks = malloc(sizeof(int32_t) * 65536);
    assert_non_null(toks);
    while (in_cur <= inp + inp_len && *out_cur) {
        char *next = strstr(in_cur, sep);
        size_t case_len = next ? (size_t)(next - in_cur) : strlen(in_cur);
        char *eol = strchr(out_cur, '\n');
        if (eol) *eol = '\0';
        int32_t n = lx_model_tokenize(m, in_cur, case_len, false, false, toks, 65536);
        assert_true(n >= 0);
        /* Compare with the expected ids. */
        char *ids = out_cur;
        int32_t k = 0;
        bool same = true;
        while (*ids) {
            while (*ids == ' ') ids++;
            if (!*ids) break;
            long v = strtol(ids, &ids, 10);
            if (k >= n || toks[k] != v) same = false;
            k++;
        }
        if (k != n) same = false;
        if (!same) {
            bad++;
            fprintf(stderr, "%s: case %d (%.40s...) tokenized differently\n", gguf, *n_cases, in_cur);
        }
        (*n_cases)++;
        out_cur = eol ? eol + 1 : out_cur + strlen(out_cur);
        if (!next) break;
        in_cur = next + sep_len;
    }
    free(toks);
    lx_model_free(m);
    free(inp);
    free(out);
    return bad;
}

static void test_vocab_files(void **state) {
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models", LLMUX_LLAMA_SOURCE_DIR);
    DIR *d = opendir(dir);
    if (!d) {
        print_message("llama.cpp source not found at %s (run scripts/setup.sh); skipping\n", dir);
        skip();
    }
    struct dirent *e;
    int files = 0, total_cases = 0, failures = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".gguf") != 0 || strncmp(e->d_name, "ggml-vocab-", 11) != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int cases = 0;
        int bad = check_vocab(path, &cases);
        if (bad < 0) continue; /* a vocab without .inp/.out expectations */
        files++;
        total_cases += cases;
        failures += bad;
    }
    closedir(d);
    print_message("%d vocabularies, %d cases, %d mismatches\n", files, total_cases, failures);
    assert_true(files >= 10);
    assert_true(total_cases >= 300);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vocab_files)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
