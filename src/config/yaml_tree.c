/* YAML text -> a small tree with positions, built from libyaml's event API.
 *
 * Why events and not yaml_parser_load (the document API): the document API resolves aliases for
 * us, so an alias bomb ("billion laughs": anchors of anchors, each alias doubling the size) would
 * reach the schema walker as an exponentially large tree. With events every alias is seen and
 * charged for the size of what it expands to, and the depth of nesting is checked as it grows.
 * libyaml's event and error API: https://pyyaml.org/wiki/LibYAML and yaml.h. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/internal.h"
#include "core/error.h"

#define MAX_ANCHORS 256

typedef struct frame {
    lx_ynode *node;
    lx_ynode *pending_key;  /* mapping: a key read, its value not yet */
    const char *anchor;     /* registered when the container ends */
} frame;

typedef struct builder {
    lx_ytree *t;
    const char *file;
    const char *text;
    size_t len;
    frame stack[LX_CONFIG_MAX_DEPTH];
    int depth;
    struct {
        const char *name;
        lx_ynode *node;
    } anchors[MAX_ANCHORS];
    size_t n_anchors;
    size_t total;           /* nodes so far, aliases counted as what they expand to */
    int documents;
    llmux_error_info *err;
} builder;

/* The path of the node being built: each open container contributes its key or index. */
static void stack_path(const builder *b, lx_cpath *p) {
    memset(p, 0, sizeof *p);
    for (int i = 0; i < b->depth; i++) {
        const frame *f = &b->stack[i];
        if (f->node->kind == LX_YN_SEQ) {
            lx_cpath_index(p, f->node->n);
        } else if (f->pending_key) {
            lx_cpath_key(p, f->pending_key->str);
        }
    }
}

static bool fail_at(builder *b, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static bool fail_at(builder *b, int line, int col, const char *fmt, ...) {
    lx_cpath p;
    stack_path(b, &p);
    va_list ap;
    va_start(ap, fmt);
    lx_cfg_errorv(b->err, b->file, line, col, p.buf, fmt, ap);
    va_end(ap);
    return false;
}

static bool oom(builder *b) {
    lx_error(b->err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory while reading the configuration", b->file);
    return false;
}

static bool charge(builder *b, size_t n, int line, int col) {
    if (n > LX_CONFIG_MAX_NODES || b->total > LX_CONFIG_MAX_NODES - n)
        return fail_at(b, line, col, "more than %d YAML nodes (aliases count as what they expand to)",
                       LX_CONFIG_MAX_NODES);
    b->total += n;
    return true;
}

static lx_ynode *new_node(builder *b, lx_ynode_kind kind, const yaml_mark_t *m) {
    if (!charge(b, 1, (int)m->line + 1, (int)m->column + 1)) return NULL;
    lx_ynode *n = lx_arena_alloc(&b->t->arena, sizeof *n);
    if (!n) {
        oom(b);
        return NULL;
    }
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->weight = 1;
    return n;
}

static bool grow(builder *b, lx_ynode *c) {
    if (c->n < c->cap) return true;
    size_t cap = c->cap ? c->cap * 2 : 4;
    lx_ynode **items = lx_arena_alloc(&b->t->arena, cap * sizeof *items);
    lx_ynode **keys = c->kind == LX_YN_MAP ? lx_arena_alloc(&b->t->arena, cap * sizeof *keys) : NULL;
    if (!items || (c->kind == LX_YN_MAP && !keys)) return oom(b);
    /* The old arrays stay in the arena: at most as much again as the final ones. */
    if (c->n) memcpy(items, c->items, c->n * sizeof *items);
    if (keys && c->n) memcpy(keys, c->keys, c->n * sizeof *keys);
    c->items = items;
    c->keys = keys;
    c->cap = cap;
    return true;
}

/* Hands a finished node to its parent (or makes it the root). */
static bool attach(builder *b, lx_ynode *n) {
    if (b->depth == 0) {
        b->t->root = n;
        return true;
    }
    frame *f = &b->stack[b->depth - 1];
    lx_ynode *c = f->node;
    if (c->kind == LX_YN_MAP && !f->pending_key) {
        if (n->kind != LX_YN_SCALAR)
            return fail_at(b, n->line, n->col, "a key must be a plain value, not a %s",
                           n->kind == LX_YN_MAP ? "mapping" : "sequence");
        if (memchr(n->str, '\0', n->len)) return fail_at(b, n->line, n->col, "a key contains a NUL character");
        f->pending_key = n;
        return true;
    }
    if (!grow(b, c)) return false;
    if (c->kind == LX_YN_MAP) {
        c->keys[c->n] = f->pending_key;
        f->pending_key = NULL;
    }
    c->items[c->n++] = n;
    return true;
}

static bool add_anchor(builder *b, const char *name, lx_ynode *n, const yaml_mark_t *m) {
    if (!name) return true;
    if (b->n_anchors == MAX_ANCHORS)
        return fail_at(b, (int)m->line + 1, (int)m->column + 1, "more than %d anchors", MAX_ANCHORS);
    b->anchors[b->n_anchors].name = name;
    b->anchors[b->n_anchors].node = n;
    b->n_anchors++;
    return true;
}

static const char *copy_anchor(builder *b, const yaml_char_t *a) {
    if (!a) return NULL;
    char *s = lx_arena_strdup(&b->t->arena, (const char *)a);
    if (!s) oom(b);
    return s;
}

typedef struct key_ref {
    const lx_ynode *key;
    size_t index;
} key_ref;

static int key_cmp(const void *x, const void *y) {
    const key_ref *a = x, *b = y;
    if (a->key->len != b->key->len) return a->key->len < b->key->len ? -1 : 1;
    int c = memcmp(a->key->str, b->key->str, a->key->len);
    if (c) return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Duplicate keys are an error (YAML 1.2 requires unique keys; a silent "last one wins" would
 * hide a typo). Sorting keeps this O(n log n) for big mappings such as prices. */
static bool check_duplicates(builder *b, const lx_ynode *map) {
    if (map->n < 2) return true;
    key_ref *refs = malloc(map->n * sizeof *refs);
    if (!refs) return oom(b);
    for (size_t i = 0; i < map->n; i++) refs[i] = (key_ref){map->keys[i], i};
    qsort(refs, map->n, sizeof *refs, key_cmp);
    /* Sorted by key, then by position: the second entry of each run of equal keys is that
     * key's first duplicate; report the earliest one in the file. */
    size_t dup = SIZE_MAX, first = 0, run = 0;
    for (size_t i = 1; i < map->n; i++) {
        const lx_ynode *k = refs[i].key, *r = refs[run].key;
        if (k->len == r->len && memcmp(k->str, r->str, k->len) == 0) {
            if (refs[i].index < dup) {
                dup = refs[i].index;
                first = refs[run].index;
            }
        } else {
            run = i;
        }
    }
    free(refs);
    if (dup == SIZE_MAX) return true;
    const lx_ynode *k = map->keys[dup];
    lx_cpath p;
    stack_path(b, &p);
    lx_cpath_key(&p, k->str);
    lx_cfg_error(b->err, b->file, k->line, k->col, p.buf, "duplicate key (first defined at line %d)",
                 map->keys[first]->line);
    return false;
}

static bool on_scalar(builder *b, const yaml_event_t *ev) {
    const yaml_mark_t *m = &ev->start_mark;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool str_tag = tag && (strcmp(tag, "tag:yaml.org,2002:str") == 0 || strcmp(tag, "!!str") == 0);
    if (tag && !str_tag && strcmp(tag, "!") != 0)
        return fail_at(b, (int)m->line + 1, (int)m->column + 1, "YAML tags are not supported (only !!str)");
    lx_ynode *n = new_node(b, LX_YN_SCALAR, m);
    if (!n) return false;
    n->len = ev->data.scalar.length;
    char *s = lx_arena_strndup(&b->t->arena, (const char *)ev->data.scalar.value, n->len);
    if (!s) return oom(b);
    n->str = s;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag;
    const char *anchor = copy_anchor(b, ev->data.scalar.anchor);
    if (ev->data.scalar.anchor && !anchor) return false;
    return add_anchor(b, anchor, n, m) && attach(b, n);
}

static bool on_start(builder *b, const yaml_event_t *ev, lx_ynode_kind kind) {
    const yaml_mark_t *m = &ev->start_mark;
    const yaml_char_t *anchor = kind == LX_YN_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    const yaml_char_t *tag = kind == LX_YN_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    if (tag) return fail_at(b, (int)m->line + 1, (int)m->column + 1, "YAML tags are not supported (only !!str)");
    if (b->depth == LX_CONFIG_MAX_DEPTH)
        return fail_at(b, (int)m->line + 1, (int)m->column + 1, "nested deeper than %d levels", LX_CONFIG_MAX_DEPTH);
    lx_ynode *n = new_node(b, kind, m);
    if (!n) return false;
    const char *a = copy_anchor(b, anchor);
    if (anchor && !a) return false;
    b->stack[b->depth++] = (frame){n, NULL, a};
    return true;
}

static bool on_end(builder *b, const yaml_event_t *ev) {
    frame *f = &b->stack[b->depth - 1];
    lx_ynode *n = f->node;
    size_t w = 1;
    for (size_t i = 0; i < n->n; i++) {
        w += n->items[i]->weight + (n->keys ? n->keys[i]->weight : 0);
        if (w > LX_CONFIG_MAX_NODES) w = LX_CONFIG_MAX_NODES + 1;
    }
    n->weight = w;
    if (n->kind == LX_YN_MAP && !check_duplicates(b, n)) return false;
    b->depth--;
    /* Registered only now: an alias inside its own anchor ("&a [*a]") is then undefined, not a
     * cycle. */
    return add_anchor(b, f->anchor, n, &ev->start_mark) && attach(b, n);
}

static bool on_alias(builder *b, const yaml_event_t *ev) {
    const yaml_mark_t *m = &ev->start_mark;
    const char *name = (const char *)ev->data.alias.anchor;
    for (size_t i = b->n_anchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) == 0) {
            lx_ynode *n = b->anchors[i].node;
            return charge(b, n->weight, (int)m->line + 1, (int)m->column + 1) && attach(b, n);
        }
    }
    return fail_at(b, (int)m->line + 1, (int)m->column + 1, "alias *%.64s names no anchor defined before it", name);
}

/* Line and column of a byte offset (reader errors carry only the offset). */
static void offset_pos(const char *text, size_t len, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool parser_error(builder *b, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR) return oom(b);
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_pos(b->text, b->len, p->problem_offset, &line, &col);
    } else {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
    }
    size_t at = p->error == YAML_READER_ERROR ? p->problem_offset : p->problem_mark.index;
    const char *hint = at < b->len && b->text[at] == '\t' ? "; YAML indents with spaces, not tabs" : "";
    const char *problem = p->problem ? p->problem : "malformed";
    if (p->context)
        return fail_at(b, line, col, "invalid YAML: %s (%s)%s", problem, p->context, hint);
    return fail_at(b, line, col, "invalid YAML: %s%s", problem, hint);
}

llmux_status lx_ytree_parse(lx_ytree *t, const char *file, const char *text, size_t len, llmux_error_info *err) {
    lx_error_clear(err);
    lx_arena_init(&t->arena);
    t->root = NULL;
    llmux_error_info local;
    builder *b = calloc(1, sizeof *b);
    if (!b) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory while reading the configuration", file);
    b->t = t;
    b->file = file;
    b->text = text;
    b->len = len;
    b->err = err ? err : &local;

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(b);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory while reading the configuration", file);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    /* A configuration file is UTF-8; without this, libyaml would guess UTF-16 from a BOM and
     * its offsets would no longer be bytes of text. */
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            ok = parser_error(b, &p);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++b->documents > 1)
                ok = fail_at(b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                             "a second YAML document (---): the configuration is one document");
            break;
        case YAML_SCALAR_EVENT: ok = on_scalar(b, &ev); break;
        case YAML_SEQUENCE_START_EVENT: ok = on_start(b, &ev, LX_YN_SEQ); break;
        case YAML_MAPPING_START_EVENT: ok = on_start(b, &ev, LX_YN_MAP); break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: ok = on_end(b, &ev); break;
        case YAML_ALIAS_EVENT: ok = on_alias(b, &ev); break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    llmux_status st = ok ? LLMUX_OK : b->err->status;
    free(b);
    return st;
}

void lx_ytree_release(lx_ytree *t) {
    if (!t) return;
    lx_arena_release(&t->arena);
    t->root = NULL;
}

const lx_ynode *lx_ymap_get(const lx_ynode *map, const char *key, const lx_ynode **key_node) {
    if (!map || map->kind != LX_YN_MAP) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        if (map->keys[i]->len == kl && memcmp(map->keys[i]->str, key, kl) == 0) {
            if (key_node) *key_node = map->keys[i];
            return map->items[i];
        }
    }
    return NULL;
}
