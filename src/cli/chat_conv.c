/* The conversation of `llmux chat`: user texts and the responses that answered them. */
#define _XOPEN_SOURCE 700
#include <stdlib.h>
#include <string.h>

#include "chat.h"

typedef struct chat_turn {
    char *user;             /* owned */
    llmux_part user_part;   /* TEXT, text = user */
    llmux_response *answer; /* owned; NULL while the turn is open */
    llmux_part *kept;       /* owned array of borrowed parts of answer when only some are kept */
    size_t n_kept;
} chat_turn;

struct chat_conv {
    chat_turn *turns;
    size_t n, cap;         /* n counts the open turn too */
    bool open;             /* turns[n - 1] waits for its answer */
    llmux_message *msgs;   /* rebuilt by chat_conv_messages */
};

chat_conv *chat_conv_create(void) { return calloc(1, sizeof(chat_conv)); }

static void turn_free(chat_turn *t) {
    free(t->user);
    free(t->kept);
    llmux_response_free(t->answer);
    memset(t, 0, sizeof *t);
}

void chat_conv_clear(chat_conv *c) {
    for (size_t i = 0; i < c->n; i++) turn_free(&c->turns[i]);
    c->n = 0;
    c->open = false;
}

void chat_conv_destroy(chat_conv *c) {
    if (!c) return;
    chat_conv_clear(c);
    free(c->turns);
    free(c->msgs);
    free(c);
}

bool chat_conv_ask(chat_conv *c, const char *text) {
    if (c->open) chat_conv_drop_open(c);
    if (c->n >= CHAT_MAX_TURNS) return false;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        chat_turn *t = realloc(c->turns, cap * sizeof *t);
        if (!t) return false;
        c->turns = t;
        c->cap = cap;
    }
    chat_turn *t = &c->turns[c->n];
    memset(t, 0, sizeof *t);
    t->user = strdup(text);
    if (!t->user) return false;
    t->user_part.type = LLMUX_PART_TEXT;
    t->user_part.text = t->user;
    c->n++;
    c->open = true;
    return true;
}

void chat_conv_drop_open(chat_conv *c) {
    if (!c->open) return;
    turn_free(&c->turns[--c->n]);
    c->open = false;
}

/* A stopped answer keeps the text it had; empty fragments carry nothing. */
static bool is_text(const llmux_part *p) { return p->type == LLMUX_PART_TEXT && p->text && *p->text; }

bool chat_conv_answer(chat_conv *c, llmux_response *resp, bool text_only) {
    if (!c->open || !resp) {
        llmux_response_free(resp);
        chat_conv_drop_open(c);
        return false;
    }
    chat_turn *t = &c->turns[c->n - 1];
    t->answer = resp;
    if (text_only) {
        size_t n = 0;
        for (size_t i = 0; i < resp->n_parts; i++) n += is_text(&resp->parts[i]);
        if (n) {
            t->kept = malloc(n * sizeof *t->kept);
            if (!t->kept) n = 0;
        }
        for (size_t i = 0, k = 0; i < resp->n_parts && k < n; i++)
            if (is_text(&resp->parts[i])) t->kept[k++] = resp->parts[i];
        t->n_kept = n;
    } else {
        t->n_kept = resp->n_parts;
    }
    c->open = false;
    if (t->n_kept == 0) {
        c->open = true;
        chat_conv_drop_open(c);
        return false;
    }
    return true;
}

size_t chat_conv_turns(const chat_conv *c) { return c->open ? c->n - 1 : c->n; }

const llmux_message *chat_conv_messages(chat_conv *c, size_t *n, bool *oom) {
    *n = 0;
    *oom = false;
    if (c->n == 0) return NULL;
    /* Grown to 2 per turn (question and answer) each time: a few KiB at most. */
    llmux_message *m = realloc(c->msgs, 2 * c->n * sizeof *m);
    if (!m) {
        *oom = true;
        return NULL;
    }
    c->msgs = m;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        chat_turn *t = &c->turns[i];
        m[k++] = (llmux_message){LLMUX_ROLE_USER, &t->user_part, 1, NULL};
        if (!t->answer) continue;
        const llmux_part *parts = t->kept ? t->kept : t->answer->parts;
        m[k++] = (llmux_message){LLMUX_ROLE_ASSISTANT, parts, t->n_kept, NULL};
    }
    *n = k;
    return m;
}
