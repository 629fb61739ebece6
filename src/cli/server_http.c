/* cli_server_* (server_http.h): libcurl's easy interface for one request to `llmux serve`. The
 * CLI links the library, which carries libcurl; the layering test checks project headers only,
 * and docs/design-deviations.md records that cli/ talks HTTP to a server on its own. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "server_http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"

const char *cli_server_url(const char *flag) {
    const char *url = flag && *flag ? flag : getenv("LLMUX_SERVER");
    if (!url || !*url) url = "http://127.0.0.1:4000";
    if (strlen(url) > CLI_SERVER_MAX_URL) {
        cli_usage_error("--server: longer than %d bytes", CLI_SERVER_MAX_URL);
        return NULL;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        cli_usage_error("--server: expected an http:// or https:// URL, got \"%.200s\"", url);
        return NULL;
    }
    return url;
}

const char *cli_server_key(const char *flag) {
    const char *k = flag && *flag ? flag : getenv("LLMUX_API_KEY");
    return k && *k ? k : NULL;
}

typedef struct sink {
    cli_server_reply *r;
    bool too_big;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    sink *s = ud;
    size_t k = size * n;
    if (s->r->len + k > CLI_SERVER_MAX_REPLY) {
        s->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    char *b = realloc(s->r->body, s->r->len + k + 1);
    if (!b) return 0;
    memcpy(b + s->r->len, p, k);
    s->r->body = b;
    s->r->len += k;
    b[s->r->len] = '\0';
    return k;
}

/* Called by curl while it waits: a signal stops the request. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)ud;
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return cli_cancel_signalled() ? 1 : 0;
}

int cli_server_call(const char *base, const char *method, const char *path, const char *body, const char *api_key,
                    int64_t timeout_ms, cli_server_reply *out) {
    memset(out, 0, sizeof *out);
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') blen--; /* "http://host:4000/" names the same server */
    char url[CLI_SERVER_MAX_URL + 64];
    snprintf(url, sizeof url, "%.*s%s", (int)blen, base, path);
    CURL *c = curl_easy_init();
    if (!c) return cli_fail(LLMUX_E_OUT_OF_MEMORY, "cannot start an HTTP request");
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1100];
    if (api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %.1000s", api_key);
        struct curl_slist *more = h ? curl_slist_append(h, auth) : NULL;
        if (more) h = more;
        explicit_bzero(auth, sizeof auth);
    }
    sink s = {out, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    int code = 0;
    char msg[600];
    if (rc == CURLE_OK) {
        if (!out->body && !(out->body = calloc(1, 1))) code = cli_fail(LLMUX_E_OUT_OF_MEMORY, "out of memory");
    } else if (s.too_big) {
        snprintf(msg, sizeof msg, "%.200s: the reply is larger than %zu bytes", url, CLI_SERVER_MAX_REPLY);
        code = cli_fail(LLMUX_E_UPSTREAM_PROTOCOL, msg);
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
        code = cli_fail(LLMUX_E_CANCELLED, "cancelled");
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(msg, sizeof msg, "%.200s: no answer within --timeout (%lld ms)", url, (long long)timeout_ms);
        code = cli_fail(LLMUX_E_TIMEOUT, msg);
    } else {
        snprintf(msg, sizeof msg, "%.200s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        code = cli_fail(LLMUX_E_NETWORK, msg);
    }
    if (code) {
        free(out->body);
        memset(out, 0, sizeof *out);
    }
    return code;
}

int cli_server_fail(const cli_server_reply *r) {
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    llmux_status st;
    char msg[700];
    int rc;
    if (code && message && llmux_status_from_name(code, &st) && st != LLMUX_OK) {
        rc = cli_fail(st, message);
    } else {
        snprintf(msg, sizeof msg, "the server answered HTTP %ld: %.300s", r->status, r->body ? r->body : "");
        rc = cli_fail(LLMUX_E_UPSTREAM_PROTOCOL, msg);
    }
    json_decref(j);
    return rc;
}
