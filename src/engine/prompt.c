#define _GNU_SOURCE /* memmem */
#include "prompt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* -------------------------------------------------------------- vocabulary */

static int cmp_special(const void *a, const void *b) {
    const lx_special *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Tokenizers whose every token stands for at most its text's (or piece's) length in bytes of
 * input: SPM, byte-level BPE, RWKV. The others normalise (WordPiece and Unigram collapse
 * whitespace and strip accents, the "whitespace" BPE variant drops whitespace), so a token can
 * stand for any number of input bytes. */
static bool has_byte_bound(const char *tokenizer_model) {
    return tokenizer_model &&
           (strcmp(tokenizer_model, "llama") == 0 || strcmp(tokenizer_model, "gpt2") == 0 ||
            strcmp(tokenizer_model, "rwkv") == 0);
}

bool lx_vocab_info_init(lx_vocab_info *vi, const struct llama_vocab *vocab, const char *tokenizer_model) {
    memset(vi, 0, sizeof *vi);
    const uint32_t special_attrs = LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_USER_DEFINED | LLAMA_TOKEN_ATTR_UNKNOWN;
    int32_t n = llama_vocab_n_tokens(vocab);
    size_t n_sp = 0;
    int32_t max_piece = 1;
    char piece[256];
    for (int32_t id = 0; id < n; id++) {
        uint32_t attr = (uint32_t)llama_vocab_get_attr(vocab, id);
        const char *text = llama_vocab_get_text(vocab, id);
        size_t tl = text ? strlen(text) : 0;
        int32_t pl = llama_token_to_piece(vocab, id, piece, sizeof piece, 0, true);
        if (pl < 0) pl = pl == INT32_MIN ? INT32_MAX : -pl;
        if (tl > (size_t)max_piece) max_piece = tl > INT32_MAX ? INT32_MAX : (int32_t)tl;
        if (pl > max_piece) max_piece = pl;
        if ((attr & special_attrs) && tl > 0) {
            n_sp++;
            if (attr & (LLAMA_TOKEN_ATTR_LSTRIP | LLAMA_TOKEN_ATTR_RSTRIP)) vi->strip_ws = true;
        }
    }
    if (n_sp) {
        vi->specials = malloc(n_sp * sizeof *vi->specials);
        if (!vi->specials) return false;
        for (int32_t id = 0; id < n; id++) {
            uint32_t attr = (uint32_t)llama_vocab_get_attr(vocab, id);
            const char *text = llama_vocab_get_text(vocab, id);
            if (!(attr & special_attrs) || !text || !*text) continue;
            vi->specials[vi->n_specials++] = (lx_special){id, attr, text, strlen(text)};
        }
        /* llama.cpp splits on special tokens longest first (llama_vocab::impl::load). */
        qsort(vi->specials, vi->n_specials, sizeof *vi->specials, cmp_special);
    }
    vi->max_piece = has_byte_bound(tokenizer_model) ? max_piece : 0;

    /* What llama_tokenize(add_special = true) puts around the text. */
    llama_token bos = llama_vocab_bos(vocab), eos = llama_vocab_eos(vocab);
    if (llama_vocab_type(vocab) == LLAMA_VOCAB_TYPE_WPM) {
        llama_token sep = llama_vocab_sep(vocab);
        if (bos != LLAMA_TOKEN_NULL) vi->prefix[vi->n_prefix++] = bos;
        if (sep != LLAMA_TOKEN_NULL) vi->suffix[vi->n_suffix++] = sep;
    } else {
        if (llama_vocab_get_add_bos(vocab) && bos != LLAMA_TOKEN_NULL) vi->prefix[vi->n_prefix++] = bos;
        if (llama_vocab_get_add_eos(vocab) && eos != LLAMA_TOKEN_NULL) vi->suffix[vi->n_suffix++] = eos;
    }
    return true;
}

void lx_vocab_info_free(lx_vocab_info *vi) {
    free(vi->specials);
    memset(vi, 0, sizeof *vi);
}

/* --------------------------------------------------------------- rendering */

void lx_prompt_free(lx_prompt *p) {
    free(p->text);
    free(p->segs);
    memset(p, 0, sizeof *p);
}

/* Appends a segment, merging it into the previous one of the same kind; empty ones are dropped. */
static bool seg_push(lx_prompt *p, size_t *cap, size_t off, size_t len, bool content) {
    if (len == 0) return true;
    if (p->n_segs && p->segs[p->n_segs - 1].content == content &&
        p->segs[p->n_segs - 1].off + p->segs[p->n_segs - 1].len == off) {
        p->segs[p->n_segs - 1].len += len;
        return true;
    }
    if (p->n_segs == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        lx_seg *s = realloc(p->segs, nc * sizeof *s);
        if (!s) return false;
        p->segs = s;
        *cap = nc;
    }
    p->segs[p->n_segs++] = (lx_seg){off, len, content};
    return true;
}

/* llama_chat_apply_template into a fresh buffer (lx_prompt_render; ud: the template). */
static lx_render_rc apply_llama(void *ud, const struct llama_chat_message *chat, size_t n, size_t max_bytes,
                                char **out, size_t *len, llmux_error_info *err) {
    (void)err;
    const char *tmpl = ud;
    *out = NULL;
    int32_t need = llama_chat_apply_template(tmpl, chat, n, true, NULL, 0);
    if (need < 0) return LX_RENDER_UNSUPPORTED;
    if ((size_t)need >= max_bytes) return LX_RENDER_TOO_BIG;
    char *buf = malloc((size_t)need + 1);
    if (!buf) return LX_RENDER_OOM;
    llama_chat_apply_template(tmpl, chat, n, true, buf, need + 1);
    buf[need] = '\0';
    *out = buf;
    *len = (size_t)need;
    return LX_RENDER_OK;
}

/* One piece of the template rendered with placeholders: markup (a range of that rendering) or
 * the content of message idx. */
typedef struct item {
    bool content;
    size_t off, len;  /* markup */
    size_t idx;       /* content */
} item;

/* Placeholders are "\x1e<index>\x1f": no whitespace (templates that trim content leave them
 * alone) and bytes no template writes. */
static size_t parse_items(const char *r, size_t rlen, size_t n_msg, item *items) {
    size_t k = 0, start = 0, i = 0;
    while (i < rlen) {
        if (r[i] == '\x1e') {
            size_t j = i + 1, idx = 0;
            while (j < rlen && j - i <= 8 && r[j] >= '0' && r[j] <= '9') idx = idx * 10 + (size_t)(r[j++] - '0');
            if (j < rlen && j > i + 1 && r[j] == '\x1f' && idx < n_msg) {
                if (i > start) items[k++] = (item){false, start, i - start, 0};
                items[k++] = (item){true, 0, 0, idx};
                start = i = j + 1;
                continue;
            }
        }
        i++;
    }
    if (rlen > start) items[k++] = (item){false, start, rlen - start, 0};
    return k;
}

/* Whether the real rendering r continues at pos with what item k expects (true at the end). */
static bool item_fits(const char *r, size_t rlen, size_t pos, const char *ph, const item *items, size_t n_items,
                      size_t k) {
    if (k == n_items) return pos == rlen;
    if (items[k].content) return true;
    return rlen - pos >= items[k].len && memcmp(r + pos, ph + items[k].off, items[k].len) == 0;
}

/* Splits the real rendering r into markup and content by walking the placeholder rendering's
 * items: markup must match byte for byte; message i's content is its text, or its text trimmed
 * (some templates trim), whichever is followed by the next markup. False when r does not follow
 * the placeholder rendering (a template that changes content in another way). */
static bool split_rendering(lx_prompt *p, size_t *seg_cap, const char *ph, const item *items, size_t n_items,
                            const struct llama_chat_message *chat, const size_t *clen, bool *oom) {
    const char *r = p->text;
    size_t rlen = p->len, pos = 0;
    for (size_t k = 0; k < n_items; k++) {
        const item *it = &items[k];
        if (!it->content) {
            if (!item_fits(r, rlen, pos, ph, items, n_items, k)) return false;
            if (!seg_push(p, seg_cap, pos, it->len, false)) goto oom;
            pos += it->len;
            continue;
        }
        const char *c = chat[it->idx].content;
        size_t full = clen[it->idx], b = 0, e = full;
        while (b < e && isspace((unsigned char)c[b])) b++;
        while (e > b && isspace((unsigned char)c[e - 1])) e--;
        const char *cand[2] = {c, c + b};
        size_t cand_len[2] = {full, e - b};
        bool placed = false;
        for (int t = 0; t < 2 && !placed; t++) {
            if (rlen - pos < cand_len[t] || memcmp(r + pos, cand[t], cand_len[t]) != 0) continue;
            if (!item_fits(r, rlen, pos + cand_len[t], ph, items, n_items, k + 1)) continue;
            if (!seg_push(p, seg_cap, pos, cand_len[t], true)) goto oom;
            pos += cand_len[t];
            placed = true;
        }
        if (!placed) return false;
    }
    return pos == rlen;
oom:
    *oom = true;
    return false;
}

/* Builds the prompt from the placeholder rendering with each message's text put in place of its
 * placeholder, untrimmed: used when the real rendering cannot be split. */
static bool assemble(lx_prompt *p, size_t *seg_cap, const char *ph, const item *items, size_t n_items,
                     const struct llama_chat_message *chat, const size_t *clen, size_t max_bytes) {
    size_t total = 0;
    for (size_t k = 0; k < n_items; k++) total += items[k].content ? clen[items[k].idx] : items[k].len;
    if (total >= max_bytes) return false;
    free(p->text);
    p->text = malloc(total + 1);
    if (!p->text) return false;
    p->n_segs = 0;
    size_t pos = 0;
    for (size_t k = 0; k < n_items; k++) {
        const char *src = items[k].content ? chat[items[k].idx].content : ph + items[k].off;
        size_t len = items[k].content ? clen[items[k].idx] : items[k].len;
        memcpy(p->text + pos, src, len);
        if (!seg_push(p, seg_cap, pos, len, items[k].content)) return false;
        pos += len;
    }
    p->text[pos] = '\0';
    p->len = pos;
    return true;
}

/* Whether a markup item of the placeholder rendering still holds a trace of a placeholder: a
 * template that escaped the content (tojson gives "\\u001e") moved it out of reach of
 * parse_items, so the placeholder rendering cannot stand for the real one. */
static bool placeholder_traces(const char *ph, const item *items, size_t n_items) {
    for (size_t k = 0; k < n_items; k++) {
        if (items[k].content) continue;
        const char *m = ph + items[k].off;
        size_t len = items[k].len;
        if (memchr(m, '\x1e', len) || memmem(m, len, "001e", 4) || memmem(m, len, "001E", 4)) return true;
    }
    return false;
}

static llmux_status build_templated(lx_prompt_render render, void *ud, const struct llama_chat_message *chat, size_t n,
                                    size_t max_bytes, const size_t *clen, lx_prompt *out, bool *unsupported,
                                    llmux_error_info *err) {
    llmux_status st = LLMUX_OK;
    struct llama_chat_message *pchat = calloc(n ? n : 1, sizeof *pchat);
    char (*names)[24] = calloc(n ? n : 1, sizeof *names);
    char *ph = NULL;
    item *items = NULL;
    size_t ph_len = 0, seg_cap = 0;
    if (!pchat || !names) goto oom;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "\x1e%zu\x1f", i);
        pchat[i].role = chat[i].role;
        /* An empty content stays empty: a template that writes markup only around a non-empty
         * content then renders both the same way. */
        pchat[i].content = clen[i] ? names[i] : "";
    }
    lx_render_rc rc = render(ud, pchat, n, max_bytes, &ph, &ph_len, err);
    if (rc == LX_RENDER_UNSUPPORTED) {
        *unsupported = true;
        goto done;
    }
    if (rc == LX_RENDER_OOM) goto oom;
    if (rc == LX_RENDER_TOO_BIG) goto too_big;
    if (rc == LX_RENDER_FAILED) goto failed;
    rc = render(ud, chat, n, max_bytes, &out->text, &out->len, err);
    if (rc == LX_RENDER_OOM) goto oom;
    if (rc == LX_RENDER_FAILED) goto failed;
    if (rc != LX_RENDER_OK) goto too_big;
    /* At most one markup item around each placeholder. */
    size_t max_items = 1;
    for (size_t i = 0; i < ph_len; i++) max_items += ph[i] == '\x1e' ? 2 : 0;
    items = malloc(max_items * sizeof *items);
    if (!items) goto oom;
    size_t n_items = parse_items(ph, ph_len, n, items);
    bool oom = false;
    if (!split_rendering(out, &seg_cap, ph, items, n_items, chat, clen, &oom)) {
        if (oom) goto oom;
        if (placeholder_traces(ph, items, n_items)) {
            /* Neither rendering can be split: the real one, as markup (llama-server's way). */
            out->n_segs = 0;
            if (!seg_push(out, &seg_cap, 0, out->len, false)) goto oom;
        } else if (!assemble(out, &seg_cap, ph, items, n_items, chat, clen, max_bytes)) {
            if (!out->text) goto oom;
            goto too_big;
        }
    }
    out->templated = true;
    goto done;
failed:
    st = err ? err->status : LLMUX_E_INVALID_REQUEST;
    goto done;
too_big:
    st = lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %zu bytes", max_bytes);
    goto done;
oom:
    st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
done:
    free(items);
    free(ph);
    free(names);
    free(pchat);
    return st;
}

llmux_status lx_prompt_build(const char *tmpl, const struct llama_chat_message *chat, size_t n, size_t max_bytes,
                             lx_prompt *out, llmux_error_info *err) {
    return lx_prompt_build_with(tmpl ? apply_llama : NULL, (void *)tmpl, chat, n, max_bytes, out, err);
}

llmux_status lx_prompt_build_with(lx_prompt_render render, void *ud, const struct llama_chat_message *chat, size_t n,
                                  size_t max_bytes, lx_prompt *out, llmux_error_info *err) {
    memset(out, 0, sizeof *out);
    size_t *clen = calloc(n ? n : 1, sizeof *clen);
    if (!clen) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += clen[i] = strlen(chat[i].content);
    llmux_status st = LLMUX_OK;
    if (total >= max_bytes) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %zu bytes", max_bytes);
        goto done;
    }
    bool unsupported = !render;
    if (render) {
        st = build_templated(render, ud, chat, n, max_bytes, clen, out, &unsupported, err);
        if (st != LLMUX_OK || !unsupported) goto done;
    }
    /* Plain completion: the texts in order, separated by blank lines; no markup at all. */
    size_t len = total + (n ? 2 * (n - 1) : 0);
    if (len >= max_bytes) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %zu bytes", max_bytes);
        goto done;
    }
    out->text = malloc(len + 1);
    if (!out->text) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
        goto done;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(out->text + pos, "\n\n", 2);
            pos += 2;
        }
        memcpy(out->text + pos, chat[i].content, clen[i]);
        pos += clen[i];
    }
    out->text[pos] = '\0';
    out->len = pos;
    size_t cap = 0;
    if (!seg_push(out, &cap, 0, pos, true)) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
done:
    free(clen);
    return st;
}

/* ------------------------------------------------------------ tokenization */

int64_t lx_prompt_min_tokens(const lx_vocab_info *vi, const lx_prompt *p) {
    if (vi->max_piece <= 0) return -1;
    size_t bytes = p->len;
    if (vi->strip_ws) { /* whitespace next to some special tokens is dropped, not tokenized */
        bytes = 0;
        for (size_t i = 0; i < p->len; i++) bytes += !isspace((unsigned char)p->text[i]);
    }
    return (int64_t)((bytes + (size_t)vi->max_piece - 1) / (size_t)vi->max_piece) + vi->n_prefix + vi->n_suffix;
}

/* The fragments of the text, as llama.cpp's tokenizer_st_partition makes them: raw text still to
 * tokenize, or a special token. A singly linked list in an array. */
typedef struct frag {
    size_t off, len;
    int32_t tok;     /* -1: raw text */
    size_t next;     /* NO_FRAG at the end */
} frag;

#define NO_FRAG ((size_t)-1)

typedef struct frag_list {
    frag *f;
    size_t n, cap;
} frag_list;

static size_t frag_new(frag_list *l, size_t off, size_t len, int32_t tok, size_t next) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        frag *f = realloc(l->f, nc * sizeof *f);
        if (!f) return NO_FRAG;
        l->f = f;
        l->cap = nc;
    }
    l->f[l->n] = (frag){off, len, tok, next};
    return l->n++;
}

/* Whether [a, a + len) lies inside one markup segment. */
static bool in_markup(const lx_prompt *p, size_t a, size_t len) {
    size_t lo = 0, hi = p->n_segs;
    while (lo < hi) { /* the last segment starting at or before a */
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid].off <= a) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return false;
    const lx_seg *s = &p->segs[lo - 1];
    return !s->content && a + len <= s->off + s->len;
}

static bool markup_contains(const lx_prompt *p, const lx_special *sp) {
    for (size_t i = 0; i < p->n_segs; i++)
        if (!p->segs[i].content && memmem(p->text + p->segs[i].off, p->segs[i].len, sp->text, sp->len)) return true;
    return false;
}

/* Splits every raw fragment at the occurrences of sp (skipping, for a control token, those
 * outside markup), stripping whitespace next to it as its LSTRIP/RSTRIP attributes say. */
static bool split_on(frag_list *l, const lx_prompt *p, const lx_special *sp, bool markup_only) {
    const char *text = p->text;
    for (size_t i = 0; i != NO_FRAG; i = l->f[i].next) {
        if (l->f[i].tok >= 0) continue;
        size_t search = l->f[i].off, end = l->f[i].off + l->f[i].len;
        while (search < end) {
            const char *hit = memmem(text + search, end - search, sp->text, sp->len);
            if (!hit) break;
            size_t a = (size_t)(hit - text);
            if (markup_only && !in_markup(p, a, sp->len)) {
                search = a + 1;
                continue;
            }
            size_t left_off = l->f[i].off, left_len = a - left_off;
            if (sp->attr & LLAMA_TOKEN_ATTR_LSTRIP)
                while (left_len && isspace((unsigned char)text[left_off + left_len - 1])) left_len--;
            size_t right_off = a + sp->len, right_len = end - right_off;
            if (sp->attr & LLAMA_TOKEN_ATTR_RSTRIP)
                while (right_len && isspace((unsigned char)text[right_off])) right_off++, right_len--;
            size_t after = l->f[i].next, t;
            if (left_len) {
                l->f[i].len = left_len;
                if ((t = frag_new(l, 0, 0, sp->id, after)) == NO_FRAG) return false;
                l->f[i].next = t;
            } else {
                t = i;
                l->f[t] = (frag){0, 0, sp->id, after};
            }
            if (!right_len) {
                i = t; /* the loop moves on to what followed the split fragment */
                break;
            }
            size_t r = frag_new(l, right_off, right_len, -1, after);
            if (r == NO_FRAG) return false;
            l->f[t].next = r;
            i = r;
            search = right_off;
            end = right_off + right_len;
        }
    }
    return true;
}

int32_t lx_prompt_tokenize(const lx_vocab_info *vi, const struct llama_vocab *vocab, const lx_prompt *p,
                           int32_t *tokens, int32_t cap) {
    frag_list l = {NULL, 0, 0};
    int32_t n = INT32_MIN;
    if (p->len && frag_new(&l, 0, p->len, -1, NO_FRAG) == NO_FRAG) goto done;
    bool has_markup = false;
    for (size_t i = 0; i < p->n_segs; i++) has_markup |= !p->segs[i].content;
    for (size_t s = 0; s < vi->n_specials && l.n; s++) {
        const lx_special *sp = &vi->specials[s];
        /* Control and unknown tokens come only from markup; user-defined tokens are split out of
         * any text, as llama.cpp does with parse_special off. */
        bool markup_only = (sp->attr & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN)) != 0;
        if (markup_only && (!has_markup || !markup_contains(p, sp))) continue;
        if (!split_on(&l, p, sp, markup_only)) goto done;
    }
    int32_t k = 0;
    for (int32_t i = 0; i < vi->n_prefix; i++) {
        if (k == cap) goto overflow;
        tokens[k++] = vi->prefix[i];
    }
    for (size_t i = l.n ? 0 : NO_FRAG; i != NO_FRAG; i = l.f[i].next) {
        if (l.f[i].tok >= 0) {
            if (k == cap) goto overflow;
            tokens[k++] = l.f[i].tok;
            continue;
        }
        /* Every raw fragment starts the text or follows a special token, as in llama.cpp, so an
         * SPM vocabulary adds its space prefix exactly where llama_tokenize would. */
        int32_t got = llama_tokenize(vocab, p->text + l.f[i].off, (int32_t)l.f[i].len, tokens + k, cap - k, false, false);
        if (got == INT32_MIN) goto done;
        if (got < 0) {
            int64_t need = (int64_t)k - got;
            n = -(int32_t)(need > INT32_MAX ? INT32_MAX : need);
            goto done;
        }
        k += got;
    }
    for (int32_t i = 0; i < vi->n_suffix; i++) {
        if (k == cap) goto overflow;
        tokens[k++] = vi->suffix[i];
    }
    n = k;
    goto done;
overflow:
    n = -(k + 1);
done:
    free(l.f);
    return n;
}
