/* TLS for the fake server: a P-256 key and a self-signed CA-style certificate made at start
 * (OpenSSL 3), written as PEM to a private temporary directory so a client can trust exactly it;
 * ALPN picks "h2" only when the server was started with h2. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "support/fake_server_internal.h"

#define HANDSHAKE_MS 5000

static const unsigned char k_alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char k_alpn_h1[] = "\x08http/1.1";

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl;
    const lx_fake_server *s = arg;
    const unsigned char *mine = s->opts.h2 ? k_alpn_h2 : k_alpn_h1;
    unsigned int mine_len = s->opts.h2 ? sizeof k_alpn_h2 - 1 : sizeof k_alpn_h1 - 1;
    unsigned char *sel = NULL;
    /* Our order of preference; OPENSSL_NPN_NO_OVERLAP means the client offered none of ours. */
    if (SSL_select_next_proto(&sel, outlen, mine, mine_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static bool add_ext(X509 *x, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return false;
    bool ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static X509 *make_cert(EVP_PKEY *key, const char *san) {
    X509 *x = X509_new();
    if (!x) return NULL;
    X509_NAME *name = X509_get_subject_name(x);
    bool ok = X509_set_version(x, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) && X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
              X509_set_pubkey(x, key) == 1 &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"llmux fake server", -1,
                                         -1, 0) == 1 &&
              X509_set_issuer_name(x, name) == 1;
    /* A CA-style self-signed certificate: it is its own trust anchor in the client's bundle. */
    ok = ok && add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign");
    ok = ok && add_ext(x, NID_ext_key_usage, "serverAuth");
    ok = ok && add_ext(x, NID_subject_key_identifier, "hash");
    ok = ok && add_ext(x, NID_subject_alt_name, san);
    ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

bool lx_fake_tls_init(lx_fake_server *s) {
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    SSL_CTX *ctx = NULL;
    FILE *f = NULL;
    snprintf(s->tmp_dir, sizeof s->tmp_dir, "/tmp/llmux-fake-XXXXXX");
    if (!mkdtemp(s->tmp_dir)) {
        s->tmp_dir[0] = '\0';
        goto fail;
    }
    snprintf(s->ca_file, sizeof s->ca_file, "%s/ca.pem", s->tmp_dir);
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!key) goto fail;
    cert = make_cert(key, s->opts.cert_san ? s->opts.cert_san : "IP:127.0.0.1,DNS:localhost");
    if (!cert) goto fail;
    f = fopen(s->ca_file, "w");
    if (!f || PEM_write_X509(f, cert) != 1) goto fail;
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    f = NULL;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_use_certificate(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, s);
    s->ssl_ctx = ctx;
    X509_free(cert);
    EVP_PKEY_free(key);
    return true;
fail:
    ERR_print_errors_fp(stderr);
    fprintf(stderr, "fake server: TLS setup failed\n");
    if (f) fclose(f);
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return false;
}

void lx_fake_tls_free(lx_fake_server *s) {
    SSL_CTX_free(s->ssl_ctx);
    s->ssl_ctx = NULL;
    if (s->tmp_dir[0]) {
        unlink(s->ca_file);
        rmdir(s->tmp_dir);
        s->tmp_dir[0] = '\0';
    }
}

static void count_failure(lx_fake_server *s) {
    pthread_mutex_lock(&s->mu);
    s->n_tls_failures++;
    pthread_mutex_unlock(&s->mu);
}

bool lx_fake_tls_accept(lx_fake_server *s, lx_fake_conn *c) {
    c->ssl = SSL_new(s->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        count_failure(s);
        return false;
    }
    /* Done in the server thread with a bounded wait: loopback handshakes take milliseconds. */
    int64_t until = lx_fake_now_ms() + HANDSHAKE_MS;
    for (;;) {
        ERR_clear_error();
        int r = SSL_accept(c->ssl);
        if (r == 1) return true;
        int e = SSL_get_error(c->ssl, r);
        int64_t left = until - lx_fake_now_ms();
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || left <= 0) break;
        struct pollfd pf[2] = {{.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT},
                               {.fd = s->wake[0], .events = POLLIN}};
        if (poll(pf, 2, (int)left) < 0 && errno != EINTR) break;
        if (pf[1].revents) break;
    }
    count_failure(s);
    return false;
}

bool lx_fake_tls_is_h2(const lx_fake_conn *c) {
    const unsigned char *p = NULL;
    unsigned int n = 0;
    if (!c->ssl) return false;
    SSL_get0_alpn_selected(c->ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

void lx_fake_tls_close(lx_fake_conn *c) {
    if (!c->ssl) return;
    SSL_shutdown(c->ssl); /* one close_notify, no wait for the peer's */
    SSL_free(c->ssl);
    c->ssl = NULL;
}
