/* The on-disk prompt cache without llama.cpp: the file format (engine/prompt_file.h) round trip
 * and every malformed variant refused with a reason; the directory tier (engine/prompt_disk.h)
 * on a real temporary directory: save, find, load, supersede, the byte budget's least recently
 * used eviction across models, a restore counting as a use, damaged and foreign files ignored
 * with a warning, temporary files never indexed. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/prompt_disk.h"
#include "engine/prompt_file.h"

#define FP UINT64_C(0x1234567890abcdef)
#define N_VOCAB 300

/* ------------------------------------------------------------- file format */

/* A whole file in memory: header, tokens 0..n-1 (token i = i % 250), blob of size bytes. */
static uint8_t *make_file(int32_t n, size_t size, size_t *len) {
    *len = LX_PFILE_HEADER_BYTES + 4 * (size_t)n + size;
    uint8_t *f = malloc(*len);
    assert_non_null(f);
    uint8_t *tp = f + LX_PFILE_HEADER_BYTES, *sp = tp + 4 * (size_t)n;
    for (int32_t i = 0; i < n; i++) {
        uint32_t t = (uint32_t)(i % 250);
        for (int b = 0; b < 4; b++) tp[4 * i + b] = (uint8_t)(t >> (8 * b));
    }
    for (size_t i = 0; i < size; i++) sp[i] = (uint8_t)(i * 7 + 3);
    lx_pfile_header h = {.fingerprint = FP, .n_tokens = n, .state_size = size,
                         .tokens_hash = lx_pfile_hash(LX_PFILE_HASH_INIT, tp, 4 * (size_t)n),
                         .state_hash = lx_pfile_hash(LX_PFILE_HASH_INIT, sp, size)};
    lx_pfile_write_header(&h, f);
    return f;
}

static const lx_pfile_limits g_lim = {.fingerprint = FP, .min_tokens = 16, .max_tokens = 512, .n_vocab = N_VOCAB,
                                      .max_state = 1 << 20};

static const char *parse(const uint8_t *f, size_t len, uint64_t file_size) {
    lx_pfile_header h;
    int32_t tokens[512];
    return lx_pfile_parse(f, len, file_size, &g_lim, &h, tokens);
}

static void test_round_trip(void **state) {
    (void)state;
    size_t len;
    uint8_t *f = make_file(40, 1000, &len);
    lx_pfile_header h;
    int32_t tokens[512];
    assert_null(lx_pfile_parse(f, len, len, &g_lim, &h, tokens));
    assert_int_equal(h.n_tokens, 40);
    assert_int_equal(h.state_size, 1000);
    for (int i = 0; i < 40; i++) assert_int_equal(tokens[i], i % 250);
    const uint8_t *blob = f + LX_PFILE_HEADER_BYTES + 160;
    assert_null(lx_pfile_check_state(&h, blob, 1000));
    /* Only the header and tokens are needed to index a file. */
    assert_null(lx_pfile_parse(f, LX_PFILE_HEADER_BYTES + 160, len, &g_lim, &h, tokens));
    free(f);
}

/* Sets a little-endian field of a file. */
static void set_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_malformed(void **state) {
    (void)state;
    size_t len;
    uint8_t *good = make_file(40, 1000, &len);
    uint8_t *f = malloc(len);
    const char *why;
#define FRESH() memcpy(f, good, len)
    FRESH();
    f[0] = 'X';
    assert_non_null(strstr(parse(f, len, len), "magic"));
    FRESH();
    set_le(f + 4, 2, 4);
    assert_non_null(strstr(parse(f, len, len), "version"));
    FRESH();
    set_le(f + 8, FP + 1, 8);
    assert_non_null(strstr(parse(f, len, len), "fingerprint"));
    FRESH();
    set_le(f + 16, 15, 4); /* below min_tokens */
    assert_non_null(strstr(parse(f, len, len), "token count"));
    FRESH();
    set_le(f + 16, 513, 4); /* above the context */
    assert_non_null(strstr(parse(f, len, len), "token count"));
    FRESH();
    set_le(f + 16, 0xFFFFFFFFu, 4);
    assert_non_null(parse(f, len, len));
    FRESH();
    set_le(f + 20, 1, 4);
    assert_non_null(strstr(parse(f, len, len), "reserved"));
    FRESH();
    set_le(f + 24, 0, 8);
    assert_non_null(strstr(parse(f, len, len), "state size"));
    FRESH();
    set_le(f + 24, (1u << 20) + 1, 8); /* over the cap */
    assert_non_null(strstr(parse(f, len, len), "state size"));
    FRESH();
    set_le(f + 24, UINT64_MAX, 8);
    assert_non_null(parse(f, len, len));
    FRESH();
    assert_non_null(strstr(parse(f, len, len - 1), "file size")); /* truncated blob */
    assert_non_null(strstr(parse(f, len, len + 1), "file size")); /* trailing bytes */
    assert_non_null(parse(f, 30, len));                            /* shorter than a header */
    assert_non_null(strstr(parse(f, LX_PFILE_HEADER_BYTES + 100, len), "truncated"));
    assert_non_null(parse(f, len, 10));
    FRESH();
    set_le(f + LX_PFILE_HEADER_BYTES + 8, N_VOCAB, 4); /* token 2 outside the vocabulary */
    assert_non_null(strstr(parse(f, len, len), "vocabulary"));
    FRESH();
    f[LX_PFILE_HEADER_BYTES + 4] ^= 1; /* token 1 changed, still in the vocabulary */
    assert_non_null(strstr(parse(f, len, len), "hash"));
    /* A flipped blob byte passes the header, not the state check. */
    FRESH();
    f[len - 1] ^= 0x40;
    lx_pfile_header h;
    int32_t tokens[512];
    assert_null(lx_pfile_parse(f, len, len, &g_lim, &h, tokens));
    why = lx_pfile_check_state(&h, f + LX_PFILE_HEADER_BYTES + 160, 1000);
    assert_non_null(why);
    assert_non_null(strstr(why, "hash"));
    assert_non_null(lx_pfile_check_state(&h, f + LX_PFILE_HEADER_BYTES + 160, 999));
#undef FRESH
    free(f);
    free(good);
}

/* --------------------------------------------------------------- directory */

static char g_dir[PATH_MAX];
static int g_warnings;
static char g_last_warning[1024];

static void on_warn(void *ud, const char *msg) {
    (void)ud;
    g_warnings++;
    snprintf(g_last_warning, sizeof g_last_warning, "%s", msg);
}

static lx_pdisk *open_dir(uint64_t fp, uint64_t budget) {
    lx_pdisk_params p = {.dir = g_dir, .budget = budget, .fingerprint = fp, .min_tokens = 16, .max_tokens = 512,
                         .n_vocab = N_VOCAB, .warn = on_warn};
    lx_pdisk *d = lx_pdisk_open(&p);
    assert_non_null(d);
    return d;
}

static void tokens_from(int32_t *t, int32_t n, int32_t base) {
    for (int32_t i = 0; i < n; i++) t[i] = (base + i) % 250;
}

static int count_files(const char *suffix) {
    DIR *dir = opendir(g_dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name), k = strlen(suffix);
        if (len >= k && strcmp(de->d_name + len - k, suffix) == 0) n++;
    }
    closedir(dir);
    return n;
}

static int dir_setup(void **state) {
    (void)state;
    char tmpl[] = "/tmp/llmux-pdisk-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    g_warnings = 0;
    return 0;
}

static int dir_teardown(void **state) {
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_save_find_load_reopen(void **state) {
    (void)state;
    uint8_t blob[2000];
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)i;
    int32_t t[100];
    tokens_from(t, 100, 5);
    lx_pdisk *d = open_dir(FP, 1 << 20);
    assert_int_equal(d->n, 0);
    assert_false(lx_pdisk_save(d, t, 15, blob, sizeof blob)); /* below min_tokens */
    assert_true(lx_pdisk_save(d, t, 40, blob, sizeof blob));
    assert_false(lx_pdisk_save(d, t, 30, blob, sizeof blob)); /* a prefix of a saved file */
    assert_true(lx_pdisk_save(d, t, 80, blob, sizeof blob));  /* supersedes the 40-token file */
    assert_int_equal(d->n, 1);
    assert_int_equal(count_files(".lxpc"), 1);
    assert_int_equal(count_files(".tmp"), 0);
    lx_pdisk_close(d);

    /* A new opening (a restart) finds it. */
    d = open_dir(FP, 1 << 20);
    assert_int_equal(d->n, 1);
    int32_t prompt[100], common = 0;
    tokens_from(prompt, 100, 5);
    prompt[60] = 299; /* diverges at 60 */
    int64_t i = lx_pdisk_find(d, prompt, 99, &common);
    assert_int_equal(i, 0);
    assert_int_equal(common, 60);
    uint8_t *st = NULL;
    size_t size = 0;
    assert_true(lx_pdisk_load(d, (size_t)i, &st, &size));
    assert_int_equal(size, sizeof blob);
    assert_memory_equal(st, blob, sizeof blob);
    free(st);
    /* Too short a match, or none. */
    tokens_from(prompt, 100, 77);
    assert_int_equal(lx_pdisk_find(d, prompt, 99, &common), -1);
    assert_int_equal(g_warnings, 0);
    lx_pdisk_close(d);

    /* Another model's opening sees none of it. */
    d = open_dir(FP + 1, 1 << 20);
    assert_int_equal(d->n, 0);
    assert_int_equal(g_warnings, 0);
    lx_pdisk_close(d);
}

/* The budget covers every model's files; the least recently used (written or restored) go first. */
static void test_budget_lru(void **state) {
    (void)state;
    uint8_t blob[1000] = {1};
    int32_t a[40], b[40], c[40], e[40];
    tokens_from(a, 40, 0);
    tokens_from(b, 40, 100);
    tokens_from(c, 40, 200);
    tokens_from(e, 40, 50);
    uint64_t file = LX_PFILE_HEADER_BYTES + 160 + sizeof blob;
    lx_pdisk *d = open_dir(FP, 3 * file);
    lx_pdisk *other = open_dir(FP + 1, 3 * file);
    assert_true(lx_pdisk_save(d, a, 40, blob, sizeof blob));
    sleep(1); /* mtimes a second apart: filesystems with coarse timestamps order them too */
    assert_true(lx_pdisk_save(other, b, 40, blob, sizeof blob));
    sleep(1);
    assert_true(lx_pdisk_save(d, c, 40, blob, sizeof blob));
    sleep(1);
    /* Restoring a makes it the most recently used: b (the other model's) is the oldest now. */
    int32_t common;
    int64_t i = lx_pdisk_find(d, a, 40, &common);
    assert_true(i >= 0);
    uint8_t *st;
    size_t size;
    assert_true(lx_pdisk_load(d, (size_t)i, &st, &size));
    free(st);
    sleep(1);
    assert_true(lx_pdisk_save(d, e, 40, blob, sizeof blob));
    assert_int_equal(count_files(".lxpc"), 3);
    assert_true(lx_pdisk_find(d, a, 40, &common) >= 0);
    assert_true(lx_pdisk_find(d, c, 40, &common) >= 0);
    assert_true(lx_pdisk_find(d, e, 40, &common) >= 0);
    lx_pdisk_close(other);
    other = open_dir(FP + 1, 3 * file);
    assert_int_equal(other->n, 0); /* b was evicted */
    /* A file larger than the whole budget is not written. */
    uint8_t big[4000] = {0};
    int32_t f[40];
    tokens_from(f, 40, 7);
    assert_false(lx_pdisk_save(d, f, 40, big, sizeof big));
    assert_int_equal(count_files(".lxpc"), 3);
    lx_pdisk_close(other);
    lx_pdisk_close(d);
}

/* Damaged files of this model are ignored with a warning, when indexed and when restored. */
static void test_damaged_files_ignored(void **state) {
    (void)state;
    uint8_t blob[1000];
    memset(blob, 9, sizeof blob);
    int32_t a[40], b[40];
    tokens_from(a, 40, 0);
    tokens_from(b, 40, 100);
    lx_pdisk *d = open_dir(FP, 1 << 20);
    assert_true(lx_pdisk_save(d, a, 40, blob, sizeof blob));
    assert_true(lx_pdisk_save(d, b, 40, blob, sizeof blob));
    char path_a[PATH_MAX], path_b[PATH_MAX];
    int32_t common;
    snprintf(path_a, sizeof path_a, "%s/%s", g_dir, d->e[lx_pdisk_find(d, a, 40, &common)].name);
    snprintf(path_b, sizeof path_b, "%s/%s", g_dir, d->e[lx_pdisk_find(d, b, 40, &common)].name);
    lx_pdisk_close(d);

    /* a: header garbage; b: a blob byte flipped (found only when restored). */
    FILE *f = fopen(path_a, "r+b");
    fwrite("JUNK", 1, 4, f);
    fclose(f);
    f = fopen(path_b, "r+b");
    fseek(f, -10, SEEK_END);
    fputc(0x77, f);
    fclose(f);
    /* Another model's file renamed as this model's, and a file that is no cache file at all. */
    char foreign[PATH_MAX], cmd[3 * PATH_MAX];
    lx_pdisk *o = open_dir(FP + 1, 1 << 20);
    assert_true(lx_pdisk_save(o, a, 40, blob, sizeof blob));
    snprintf(foreign, sizeof foreign, "%s/%016llx-%016llx.lxpc", g_dir, (unsigned long long)FP, 42ull);
    snprintf(cmd, sizeof cmd, "mv '%s/%s' '%s'", g_dir, o->e[0].name, foreign);
    assert_int_equal(system(cmd), 0);
    lx_pdisk_close(o);
    snprintf(cmd, sizeof cmd, "echo hello > '%s/notes.txt'", g_dir);
    assert_int_equal(system(cmd), 0);

    g_warnings = 0;
    d = open_dir(FP, 1 << 20);
    assert_int_equal(g_warnings, 2); /* a (magic), the foreign one (fingerprint) */
    assert_int_equal(d->n, 1);       /* b: its header is fine */
    int64_t i = lx_pdisk_find(d, b, 40, &common);
    assert_true(i >= 0);
    uint8_t *st = (uint8_t *)1;
    size_t size = 1;
    assert_false(lx_pdisk_load(d, (size_t)i, &st, &size));
    assert_null(st);
    assert_int_equal(g_warnings, 3);
    assert_non_null(strstr(g_last_warning, "hash"));
    assert_int_equal(d->n, 0); /* it left the index */
    assert_int_equal(lx_pdisk_find(d, b, 40, &common), -1);
    lx_pdisk_close(d);
}

/* A file deleted by another process between indexing and restoring: no warning, no restore. */
static void test_file_gone(void **state) {
    (void)state;
    uint8_t blob[100] = {3};
    int32_t a[40];
    tokens_from(a, 40, 0);
    lx_pdisk *d = open_dir(FP, 1 << 20);
    assert_true(lx_pdisk_save(d, a, 40, blob, sizeof blob));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", g_dir, d->e[0].name);
    assert_int_equal(unlink(path), 0);
    uint8_t *st;
    size_t size;
    assert_false(lx_pdisk_load(d, 0, &st, &size));
    assert_int_equal(g_warnings, 0);
    assert_int_equal(d->n, 0);
    lx_pdisk_close(d);
}

/* A directory that refuses writes: one warning, no crash. */
static void test_unwritable_dir(void **state) {
    (void)state;
    if (geteuid() == 0) {
        /* root ignores permissions: make the directory a path that cannot hold files instead */
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && touch '%s'", g_dir, g_dir);
        assert_int_equal(system(cmd), 0);
    } else {
        assert_int_equal(chmod(g_dir, 0500), 0);
    }
    uint8_t blob[100] = {3};
    int32_t a[40];
    tokens_from(a, 40, 0);
    lx_pdisk *d = open_dir(FP, 1 << 20);
    g_warnings = 0;
    assert_false(lx_pdisk_save(d, a, 40, blob, sizeof blob));
    assert_false(lx_pdisk_save(d, a, 40, blob, sizeof blob));
    assert_int_equal(g_warnings, 1);
    lx_pdisk_close(d);
    if (geteuid() != 0) chmod(g_dir, 0700);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test_setup_teardown(test_save_find_load_reopen, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_budget_lru, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_files_ignored, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_gone, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_dir, dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
