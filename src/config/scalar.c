/* Typed reads of YAML scalars with errors at the node, env: references and paths.
 *
 * Numbers and booleans must be written without quotes (a quoted "5" is a string: YAML's core
 * schema, https://yaml.org/spec/1.2.2/#1032-tag-resolution). Only decimal forms are accepted:
 * hex, octal, .inf and .nan have no use in this file and would only hide typos. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "core/error.h"

bool lx_cfg_fail(lx_cfg_ctx *c, const lx_ynode *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lx_cfg_errorv(c->err, c->file, n ? n->line : 1, n ? n->col : 1, c->path.buf, fmt, ap);
    va_end(ap);
    return false;
}

bool lx_cfg_oom(lx_cfg_ctx *c) {
    lx_error(c->err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory while loading the configuration", c->file);
    return false;
}

static const char *kind_name(const lx_ynode *n) {
    if (n->kind == LX_YN_MAP) return "a mapping";
    if (n->kind == LX_YN_SEQ) return "a sequence";
    if (lx_cfg_is_null(n)) return "nothing (null)";
    return "a scalar";
}

bool lx_cfg_check_map(lx_cfg_ctx *c, const lx_ynode *n, const char *const *known, const char *what) {
    if (n->kind != LX_YN_MAP) return lx_cfg_fail(c, n, "expected %s, got %s", what, kind_name(n));
    size_t n_known = 0;
    while (known[n_known]) n_known++;
    for (size_t i = 0; i < n->n; i++) {
        const lx_ynode *k = n->keys[i];
        bool found = false;
        for (size_t j = 0; j < n_known && !found; j++) found = strcmp(k->str, known[j]) == 0;
        if (found) continue;
        size_t old = lx_cpath_key(&c->path, k->str);
        const char *hint = lx_cfg_suggest(k->str, known, n_known);
        if (hint) lx_cfg_fail(c, k, "unknown key (did you mean \"%s\"?)", hint);
        else lx_cfg_fail(c, k, "unknown key");
        lx_cpath_pop(&c->path, old);
        return false;
    }
    return true;
}

bool lx_cfg_is_null(const lx_ynode *n) {
    if (!n || n->kind != LX_YN_SCALAR || !n->plain) return false;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
           strcmp(n->str, "NULL") == 0;
}

bool lx_cfg_string(lx_cfg_ctx *c, const lx_ynode *n, const char **out) {
    if (n->kind != LX_YN_SCALAR || lx_cfg_is_null(n)) return lx_cfg_fail(c, n, "expected a string, got %s", kind_name(n));
    if (memchr(n->str, '\0', n->len)) return lx_cfg_fail(c, n, "the string contains a NUL character");
    char *copy = lx_arena_strndup(&c->cfg->arena, n->str, n->len);
    if (!copy) return lx_cfg_oom(c);
    *out = copy;
    return true;
}

static bool env_name_ok(const char *s) {
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return false;
    return true;
}

bool lx_cfg_string_env(lx_cfg_ctx *c, const lx_ynode *n, bool secret, const char **out, const char **env_var) {
    (void)secret; /* values are never quoted in errors below; the flag documents the caller */
    const char *s;
    if (env_var) *env_var = NULL;
    if (!lx_cfg_string(c, n, &s)) return false;
    if (strncmp(s, "env:", 4) != 0) {
        *out = s;
        return true;
    }
    const char *name = s + 4;
    if (!env_name_ok(name) || strlen(name) > 128)
        return lx_cfg_fail(c, n, "env: needs an environment variable name (letters, digits, _), e.g. env:OPENAI_API_KEY");
    const char *v = getenv(name);
    if (!v) return lx_cfg_fail(c, n, "environment variable %s is not set", name);
    if (!*v) return lx_cfg_fail(c, n, "environment variable %s is empty", name);
    char *copy = lx_arena_strdup(&c->cfg->arena, v);
    if (!copy) return lx_cfg_oom(c);
    *out = copy;
    if (env_var) *env_var = name;
    return true;
}

/* Plain decimal integer: optional sign, digits only. */
bool lx_cfg_scalar_int(const lx_ynode *n, int64_t *out) {
    if (n->kind != LX_YN_SCALAR || !n->plain || n->len == 0 || n->len > 24) return false;
    const char *s = n->str;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == n->len) return false;
    for (size_t j = i; j < n->len; j++)
        if (!isdigit((unsigned char)s[j])) return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno) return false;
    *out = (int64_t)v;
    return true;
}

/* Plain decimal number: digits with at most one '.', an optional exponent. Parsed with strtod
 * after the shape check; the C locale's '.' is the only decimal point llmux ever sets. */
bool lx_cfg_scalar_number(const lx_ynode *n, double *out) {
    if (n->kind != LX_YN_SCALAR || !n->plain || n->len == 0 || n->len > 64) return false;
    const char *s = n->str;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    bool digits = false, dot = false;
    for (; i < n->len && (isdigit((unsigned char)s[i]) || (s[i] == '.' && !dot)); i++) {
        if (s[i] == '.') dot = true;
        else digits = true;
    }
    if (!digits) return false;
    if (i < n->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n->len && (s[i] == '-' || s[i] == '+')) i++;
        size_t start = i;
        while (i < n->len && isdigit((unsigned char)s[i])) i++;
        if (i == start) return false;
    }
    if (i != n->len) return false;
    char *end;
    double v = strtod(s, &end);
    if (end != s + n->len || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* What a wrongly typed value was, for the error: the text of a short scalar, else its kind. */
static void describe(const lx_ynode *n, char *buf, size_t size) {
    if (n->kind == LX_YN_SCALAR && !lx_cfg_is_null(n) && n->len <= 40 && !memchr(n->str, '\0', n->len)) {
        bool printable = true;
        for (size_t i = 0; i < n->len && printable; i++) printable = n->str[i] >= 0x20 && n->str[i] != 0x7f;
        if (printable) {
            snprintf(buf, size, n->plain ? "\"%s\"" : "\"%s\" (quoted, so a string)", n->str);
            return;
        }
    }
    snprintf(buf, size, "%s", kind_name(n));
}

bool lx_cfg_int(lx_cfg_ctx *c, const lx_ynode *n, int64_t lo, int64_t hi, const char *expect, int64_t *out) {
    int64_t v;
    if (!lx_cfg_scalar_int(n, &v) || v < lo || v > hi) {
        char got[96];
        describe(n, got, sizeof got);
        return lx_cfg_fail(c, n, "expected %s, got %s", expect, got);
    }
    *out = v;
    return true;
}

bool lx_cfg_number(lx_cfg_ctx *c, const lx_ynode *n, double lo, bool lo_open, double hi, const char *expect,
                   double *out) {
    double v;
    if (!lx_cfg_scalar_number(n, &v) || v < lo || (lo_open && v == lo) || v > hi) {
        char got[96];
        describe(n, got, sizeof got);
        return lx_cfg_fail(c, n, "expected %s, got %s", expect, got);
    }
    *out = v;
    return true;
}

bool lx_cfg_bool(lx_cfg_ctx *c, const lx_ynode *n, bool *out) {
    if (n->kind == LX_YN_SCALAR && n->plain) {
        static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(n->str, t[i]) == 0) return *out = true, true;
            if (strcmp(n->str, f[i]) == 0) return *out = false, true;
        }
    }
    char got[96];
    describe(n, got, sizeof got);
    return lx_cfg_fail(c, n, "expected true or false, got %s", got);
}

const char *lx_cfg_resolve_path(lx_cfg_ctx *c, const lx_ynode *n, const char *p) {
    char *out;
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            lx_cfg_fail(c, n, "a path starting with ~ needs $HOME, which is not set");
            return NULL;
        }
        size_t l = strlen(home) + strlen(p);
        out = lx_arena_alloc(&c->cfg->arena, l + 1);
        if (out) snprintf(out, l + 1, "%s%s", home, p + 1);
    } else if (p[0] == '/' || !c->base_dir || strcmp(c->base_dir, ".") == 0) {
        out = lx_arena_strdup(&c->cfg->arena, p);
    } else {
        /* Relative to the file's directory, like docker-compose resolves its paths: the same
         * file then means the same directories whatever the current directory is. */
        size_t l = strlen(c->base_dir) + 1 + strlen(p);
        out = lx_arena_alloc(&c->cfg->arena, l + 1);
        if (out) snprintf(out, l + 1, "%s/%s", c->base_dir, p);
    }
    if (!out) lx_cfg_oom(c);
    return out;
}
