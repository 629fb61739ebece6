/* The file format of the on-disk prompt cache (prompt_disk.h): one file per saved prefix.
 *
 *   offset  size  field (integers little-endian)
 *        0     4  magic "LXPC"
 *        4     4  version (LX_PFILE_VERSION)
 *        8     8  model fingerprint (lx_pfile_fingerprint of the model it was made with)
 *       16     4  n_tokens: tokens the saved KV holds, positions 0..n_tokens-1
 *       20     4  reserved, 0
 *       24     8  state_size: bytes of llama_state_seq_get_data's blob
 *       32     8  tokens_hash: lx_pfile_hash of the n_tokens tokens (as stored)
 *       40     8  state_hash: lx_pfile_hash of the blob
 *       48  4*n   the tokens, int32 each
 *        …        the blob (state_size bytes); the file ends with it
 *
 * Everything is checked before llama.cpp sees a byte: the magic, the version, the fingerprint,
 * the token count against the context, every token against the vocabulary, the blob's size
 * against the cap and the file's own size, and both hashes. Pure: no I/O, no allocation. */
#ifndef LX_ENGINE_PROMPT_FILE_H
#define LX_ENGINE_PROMPT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LX_PFILE_MAGIC "LXPC"
#define LX_PFILE_VERSION 1u
#define LX_PFILE_HEADER_BYTES 48u

typedef struct lx_pfile_header {
    uint64_t fingerprint;
    int32_t n_tokens;
    uint64_t state_size;
    uint64_t tokens_hash;
    uint64_t state_hash;
} lx_pfile_header;

/* What a file must satisfy to be used by one model. */
typedef struct lx_pfile_limits {
    uint64_t fingerprint;   /* the loading model's */
    int32_t min_tokens;     /* fewer is not worth a file (LX_PCACHE_MIN_TOKENS) */
    int32_t max_tokens;     /* the model's context */
    int32_t n_vocab;        /* every token in [0, n_vocab) */
    uint64_t max_state;     /* largest blob accepted (the directory's byte budget) */
} lx_pfile_limits;

/* A 64-bit hash (FNV-1a over 8-byte words, then a final mix): for integrity and file names, not
 * against an adversary. h is the running value: start with LX_PFILE_HASH_INIT. */
#define LX_PFILE_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t lx_pfile_hash(uint64_t h, const void *data, size_t len);

/* Writes the header for h into out[0..LX_PFILE_HEADER_BYTES). */
void lx_pfile_write_header(const lx_pfile_header *h, uint8_t out[LX_PFILE_HEADER_BYTES]);

/* Parses the header and the tokens of a file of file_size bytes whose first len bytes are data
 * (len >= LX_PFILE_HEADER_BYTES + 4 * n_tokens is needed to accept it; the blob need not be
 * there). Writes the tokens to tokens[0..n_tokens) (capacity lim->max_tokens) and the header to
 * *h. Returns NULL when the file is acceptable, else a static sentence saying why not (for the
 * warning). Checks everything above but the blob's hash (lx_pfile_check_state). */
const char *lx_pfile_parse(const uint8_t *data, size_t len, uint64_t file_size, const lx_pfile_limits *lim,
                           lx_pfile_header *h, int32_t *tokens);

/* Checks the blob (state_size bytes) against the header's state_hash. NULL when it matches. */
const char *lx_pfile_check_state(const lx_pfile_header *h, const uint8_t *state, size_t size);

#endif
