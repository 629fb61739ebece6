/* The server's SSE encoders on arbitrary canonical event sequences (what a misbehaving backend
 * could make the runtime deliver, in any order): bytes → events → OpenAI (Chat Completions, text
 * completions, Responses) and Anthropic SSE.
 * Beyond "no crash, no leak": every frame the encoders write is `event:`/`data:` lines ending in a
 * blank line, every data payload is JSON (or OpenAI's [DONE]), nothing follows the terminal
 * frame, and text that is not UTF-8 never breaks the stream. A Responses stream's tool calls are
 * custom tool calls when the first byte says so. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "llmux.h"
#include "server/http/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks the framing of one encoder output and that every data line is JSON. */
static void check_frames(const char *out) {
    const char *p = out;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        if (!end) abort();
        const char *line = p;
        while (line < end) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            if (!nl) nl = end;
            size_t len = (size_t)(nl - line);
            if (len >= 6 && memcmp(line, "data: ", 6) == 0) {
                if (!(len == 12 && memcmp(line + 6, "[DONE]", 6) == 0)) {
                    json_t *j = json_loadb(line + 6, len - 6, JSON_ALLOW_NUL, NULL);
                    if (!j) abort();
                    json_decref(j);
                }
            } else if (!(len >= 7 && memcmp(line, "event: ", 7) == 0) && !(len >= 1 && line[0] == ':')) {
                abort();
            }
            line = nl + 1;
        }
        p = end + 2;
    }
}

static void run(lx_srv_format f, const uint8_t *data, size_t size) {
    lx_srv_stream *s = lx_srv_stream_create(f, "id", "m", 1, data[0] & 1);
    if (!s) return;
    /* Responses: the tool calls as custom tool calls (a Codex apply_patch) half the time. */
    static const char *const custom[] = {"fn"};
    if (f == LX_SRV_OPENAI_RESPONSES && (data[0] & 2) && !lx_srv_stream_custom_tools(s, custom, 1)) abort();
    /* An error message cut mid-character, as a truncated upstream message can be. */
    llmux_error_info e = {.status = (llmux_status)(data[0] % LLMUX_STATUS_COUNT), .message = "busy \xe2\x82"};
    size_t i = 1;
    bool ended = false;
    while (i + 2 <= size) {
        llmux_event ev = {.type = (llmux_event_type)(data[i] % 10), .index = data[i + 1] % 8};
        size_t n = i + 2 < size ? data[i + 2] % 16 : 0;
        i += 3;
        if (n > size - (i < size ? i : size)) n = i < size ? size - i : 0;
        ev.text = n ? (const char *)data + i : NULL;
        ev.text_len = n;
        i += n;
        ev.id = "call";
        /* NATIVE: an Anthropic block or a Responses item (written to a client of that format when
         * its bytes are a JSON object), or another format's (skipped everywhere). */
        ev.name = ev.type != LLMUX_EVENT_NATIVE ? "fn"
                  : (data[0] & 8)              ? "anthropic"
                  : (data[0] & 16)             ? "openai_responses"
                                               : "other";
        ev.signature = (data[0] & 2) ? "sig" : NULL;
        ev.redacted = data[0] & 4;
        ev.finish_reason = (llmux_finish_reason)(ev.index % 8);
        ev.error = &e;
        ev.usage = llmux_usage_default();
        char *out = NULL;
        if (!lx_srv_stream_event(s, &ev, &out)) abort(); /* only out of memory may fail */
        if (out) {
            if (ended) abort(); /* nothing after the terminal frame */
            check_frames(out);
            free(out);
        }
        ended = lx_srv_stream_ended(s);
    }
    lx_srv_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    run(LX_SRV_OPENAI, data, size);
    run(LX_SRV_ANTHROPIC, data, size);
    run(LX_SRV_OPENAI_TEXT, data, size);
    run(LX_SRV_OPENAI_RESPONSES, data, size);
    return 0;
}
