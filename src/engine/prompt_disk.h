/* The on-disk prompt cache: prefixes' KV state saved as files in a directory
 * (local.prompt_cache_dir), so that a new runtime (a restart, another process on the same model
 * file) restores a returning prompt's prefix instead of processing it again.
 *
 * A file holds one prefix of one model (prompt_file.h: header, tokens, llama_state_seq_get_data's
 * blob), named "<fingerprint>-<tokens hash>.lxpc": the fingerprint (lx_pdisk_fingerprint) ties it
 * to the model file's bytes and identity and to the context's KV layout. Opening the directory
 * reads the headers and tokens of this model's files into an index (the blobs stay on disk until
 * a prompt restores one); a file that does not pass prompt_file.h's checks is left out with a
 * warning. Files are written to a temporary name and renamed, so a reader never sees half a
 * file; no fsync (a cache: after a power loss a torn file fails its checks and is ignored).
 * The byte budget covers every *.lxpc file in the directory (several models may share it):
 * before a write, the least recently used files go first (a file's mtime is set when it is
 * written or restored).
 *
 * Private to src/engine; used by the engine thread only. Several runtimes or processes may share
 * a directory: each file is written whole under a new name and read through its own descriptor,
 * so a concurrent eviction never yields a partial read (at worst a restore finds the file gone). */
#ifndef LX_ENGINE_PROMPT_DISK_H
#define LX_ENGINE_PROMPT_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives a warning (a file ignored, a write that failed); msg is valid during the call. */
typedef void (*lx_pdisk_warn_fn)(void *user_data, const char *msg);

typedef struct lx_pdisk_params {
    const char *dir;         /* an existing directory; copied */
    uint64_t budget;         /* bytes for all *.lxpc files of the directory; > 0 */
    uint64_t fingerprint;    /* the model's (lx_pdisk_fingerprint) */
    int32_t min_tokens;      /* shorter prefixes are not saved or accepted */
    int32_t max_tokens;      /* the context: longer files are refused */
    int32_t n_vocab;         /* tokens must lie in [0, n_vocab) */
    lx_pdisk_warn_fn warn;   /* NULL = silent */
    void *warn_user_data;
} lx_pdisk_params;

typedef struct lx_pdisk_entry {
    char name[48];           /* file name inside the directory */
    int32_t *tokens;
    int32_t n;
} lx_pdisk_entry;

typedef struct lx_pdisk {
    lx_pdisk_params p;       /* p.dir points at dir */
    char *dir;
    lx_pdisk_entry *e;       /* this model's files */
    size_t n, cap;
    uint64_t saves, restores, ignored; /* counters, for tests */
    bool write_warned;       /* one warning for a directory that refuses writes */
} lx_pdisk;

/* The fingerprint of a model as loaded: its path, size and modification time, the first 64 KiB
 * of the file (the GGUF header: architecture, shapes, vocabulary), and layout (bytes describing
 * the context's KV cache: types, flash attention's V layout). 0 when the file cannot be read. */
uint64_t lx_pdisk_fingerprint(const char *path, int64_t size, int64_t mtime_ns, const void *layout,
                              size_t layout_len);

/* Opens the directory and indexes this model's files. NULL when out of memory (a directory that
 * cannot be read gives an empty index and a warning). */
lx_pdisk *lx_pdisk_open(const lx_pdisk_params *p);
/* Accepts NULL. Files stay. */
void lx_pdisk_close(lx_pdisk *d);

/* Writes a file holding tokens[0..n) and their state, unless n < min_tokens, a file already
 * holds these tokens or a longer prefix of them, or the file would not fit the budget. Files of
 * this model holding a prefix of these tokens are removed (the new one supersedes them); least
 * recently used files go until it fits. Returns whether a file was written. */
bool lx_pdisk_save(lx_pdisk *d, const int32_t *tokens, int32_t n, const uint8_t *state, size_t size);

/* Whether a file already holds tokens[0..n) (as a prefix of its own tokens). */
bool lx_pdisk_holds(const lx_pdisk *d, const int32_t *tokens, int32_t n);

/* The index entry sharing the longest prefix with prompt[0..limit), -1 when none shares at least
 * min_tokens; the shared length in *common. */
int64_t lx_pdisk_find(const lx_pdisk *d, const int32_t *prompt, int32_t limit, int32_t *common);

/* Takes the entry of file name out of the index (the file stays), with a warning saying why. */
void lx_pdisk_forget(lx_pdisk *d, const char *name, const char *why);

/* Reads entry i's state (checked again, whole: header, tokens equal to the index's, blob hash)
 * into *state (malloc'd, the caller frees it) and its size. On failure the entry leaves the
 * index (with a warning when the file was damaged, not when it was merely gone) and false is
 * returned. A restored file counts as used (LRU). */
bool lx_pdisk_load(lx_pdisk *d, size_t i, uint8_t **state, size_t *size);

#endif
