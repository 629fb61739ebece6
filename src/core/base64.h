/* Standard base64 (RFC 4648 section 4, with '=' padding) for binary payloads inside JSON: the IPC
 * protocol carries embedding vectors as the bytes of their float32 values (exact, and 4/3 of the
 * binary size where decimal text takes about 3x), as OpenAI's encoding_format "base64" does.
 * No I/O, no allocation policy of its own beyond malloc. */
#ifndef LX_BASE64_H
#define LX_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Characters lx_base64_encode writes for n bytes (padding included, no NUL). */
size_t lx_base64_encoded_len(size_t n);

/* Encodes n bytes into out, which has room for lx_base64_encoded_len(n) + 1 bytes (NUL-terminated). */
void lx_base64_encode(const void *in, size_t n, char *out);

/* Decodes exactly len characters of strict base64 (canonical padding, no whitespace, no
 * characters outside the alphabet, unused bits zero) into out, which has room for max bytes.
 * *n_out gets the decoded size. False on any malformed input or when the result would exceed
 * max (nothing beyond max is written). */
bool lx_base64_decode(const char *in, size_t len, void *out, size_t max, size_t *n_out);

#endif
