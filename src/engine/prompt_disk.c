/* The on-disk prompt cache; see prompt_disk.h (policy) and prompt_file.h (format). */
#define _POSIX_C_SOURCE 200809L
#include "prompt_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prompt_file.h"

#define FINGERPRINT_HEAD_BYTES (64 * 1024)
#define SUFFIX ".lxpc"
/* A temporary file this old was left by a process that died while writing it. */
#define STALE_TMP_SECONDS 3600

static void warnf(lx_pdisk *d, const char *fmt, ...) {
    if (!d->p.warn) return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->p.warn(d->p.warn_user_data, msg);
}

/* Reads up to want bytes at offset off; returns the count read (short at end of file), -1 on error. */
static ssize_t read_at(int fd, uint8_t *buf, size_t want, off_t off) {
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(fd, buf + got, want - got, off + (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static bool write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        len -= (size_t)k;
    }
    return true;
}

uint64_t lx_pdisk_fingerprint(const char *path, int64_t size, int64_t mtime_ns, const void *layout,
                              size_t layout_len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    uint8_t *head = malloc(FINGERPRINT_HEAD_BYTES);
    ssize_t k = head ? read_at(fd, head, FINGERPRINT_HEAD_BYTES, 0) : -1;
    close(fd);
    if (k < 0) {
        free(head);
        return 0;
    }
    uint64_t h = lx_pfile_hash(LX_PFILE_HASH_INIT, path, strlen(path));
    h = lx_pfile_hash(h, &size, sizeof size);
    h = lx_pfile_hash(h, &mtime_ns, sizeof mtime_ns);
    h = lx_pfile_hash(h, head, (size_t)k);
    h = lx_pfile_hash(h, layout, layout_len);
    free(head);
    return h ? h : 1;
}

/* ------------------------------------------------------------------ index */

static void drop_entry(lx_pdisk *d, size_t i) {
    free(d->e[i].tokens);
    d->e[i] = d->e[--d->n];
}

static bool add_entry(lx_pdisk *d, const char *name, const int32_t *tokens, int32_t n) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        lx_pdisk_entry *grown = realloc(d->e, cap * sizeof *grown);
        if (!grown) return false;
        d->e = grown;
        d->cap = cap;
    }
    lx_pdisk_entry *e = &d->e[d->n];
    if (!(e->tokens = malloc(sizeof(int32_t) * (size_t)n))) return false;
    memcpy(e->tokens, tokens, sizeof(int32_t) * (size_t)n);
    e->n = n;
    snprintf(e->name, sizeof e->name, "%s", name);
    d->n++;
    return true;
}

static int path_of(const lx_pdisk *d, const char *name, char *out, size_t size) {
    int k = snprintf(out, size, "%s/%s", d->dir, name);
    return k < 0 || (size_t)k >= size ? -1 : 0;
}

static lx_pfile_limits limits_of(const lx_pdisk *d) {
    lx_pfile_limits lim = {.fingerprint = d->p.fingerprint, .min_tokens = d->p.min_tokens,
                           .max_tokens = d->p.max_tokens, .n_vocab = d->p.n_vocab, .max_state = d->p.budget};
    return lim;
}

/* Opens a cache file of the directory for reading: a regular file, never through a symlink. */
static int open_file(const lx_pdisk *d, const char *name, struct stat *st) {
    char path[PATH_MAX];
    if (path_of(d, name, path, sizeof path) != 0) return -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* Reads and checks the header and tokens of fd (st_size bytes) into buf / tokens. NULL when good. */
static const char *read_header(const lx_pdisk *d, int fd, uint64_t file_size, uint8_t *buf, size_t buf_size,
                               lx_pfile_header *h, int32_t *tokens) {
    size_t want = file_size < buf_size ? (size_t)file_size : buf_size;
    ssize_t got = read_at(fd, buf, want, 0);
    if (got < 0) return "cannot be read";
    lx_pfile_limits lim = limits_of(d);
    return lx_pfile_parse(buf, (size_t)got, file_size, &lim, h, tokens);
}

static size_t header_buf_size(const lx_pdisk *d) { return LX_PFILE_HEADER_BYTES + 4 * (size_t)d->p.max_tokens; }

/* Whether name looks like one of this model's files: "<fingerprint>-<16 hex>.lxpc". */
static bool is_ours(const lx_pdisk *d, const char *name) {
    char prefix[20];
    snprintf(prefix, sizeof prefix, "%016" PRIx64 "-", d->p.fingerprint);
    size_t n = strlen(name);
    return n == 16 + 1 + 16 + strlen(SUFFIX) && strncmp(name, prefix, 17) == 0 && strcmp(name + n - 5, SUFFIX) == 0;
}

static void index_dir(lx_pdisk *d) {
    DIR *dir = opendir(d->dir);
    if (!dir) {
        warnf(d, "prompt cache directory %s cannot be read (%s): nothing is restored from it", d->dir, strerror(errno));
        return;
    }
    uint8_t *buf = malloc(header_buf_size(d));
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)d->p.max_tokens);
    struct dirent *de;
    while (buf && tokens && (de = readdir(dir))) {
        if (!is_ours(d, de->d_name)) continue; /* another model's file, or not a cache file */
        struct stat st;
        int fd = open_file(d, de->d_name, &st);
        if (fd < 0) continue;                  /* gone since readdir, or not a regular file */
        lx_pfile_header h;
        const char *why = read_header(d, fd, (uint64_t)st.st_size, buf, header_buf_size(d), &h, tokens);
        close(fd);
        if (why) {
            d->ignored++;
            warnf(d, "prompt cache file %s/%s ignored: %s", d->dir, de->d_name, why);
            continue;
        }
        if (!add_entry(d, de->d_name, tokens, h.n_tokens)) break;
    }
    free(buf);
    free(tokens);
    closedir(dir);
}

lx_pdisk *lx_pdisk_open(const lx_pdisk_params *p) {
    lx_pdisk *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->p = *p;
    if (!(d->dir = strdup(p->dir))) {
        free(d);
        return NULL;
    }
    d->p.dir = d->dir;
    if (d->p.min_tokens < 1) d->p.min_tokens = 1;
    if (d->p.max_tokens > 0) index_dir(d);
    return d;
}

void lx_pdisk_close(lx_pdisk *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) free(d->e[i].tokens);
    free(d->e);
    free(d->dir);
    free(d);
}

/* ---------------------------------------------------------------- lookups */

static bool is_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    return na <= nb && memcmp(a, b, sizeof(int32_t) * (size_t)na) == 0;
}

static void touch(const lx_pdisk *d, const char *name) {
    char path[PATH_MAX];
    if (path_of(d, name, path, sizeof path) == 0) utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
}

bool lx_pdisk_holds(const lx_pdisk *d, const int32_t *tokens, int32_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (is_prefix(tokens, n, d->e[i].tokens, d->e[i].n)) return true;
    return false;
}

int64_t lx_pdisk_find(const lx_pdisk *d, const int32_t *prompt, int32_t limit, int32_t *common) {
    int64_t best = -1;
    int32_t best_k = 0;
    for (size_t i = 0; i < d->n; i++) {
        const lx_pdisk_entry *e = &d->e[i];
        int32_t m = e->n < limit ? e->n : limit, k = 0;
        while (k < m && e->tokens[k] == prompt[k]) k++;
        if (k > best_k) {
            best_k = k;
            best = (int64_t)i;
        }
    }
    if (best_k < d->p.min_tokens) return -1;
    *common = best_k;
    return best;
}

bool lx_pdisk_load(lx_pdisk *d, size_t i, uint8_t **state, size_t *size) {
    *state = NULL;
    *size = 0;
    lx_pdisk_entry *e = &d->e[i];
    struct stat st;
    int fd = open_file(d, e->name, &st);
    if (fd < 0) {
        if (errno != ENOENT) warnf(d, "prompt cache file %s/%s ignored: %s", d->dir, e->name, strerror(errno));
        drop_entry(d, i);
        return false;
    }
    const char *why = NULL;
    uint8_t *buf = malloc(header_buf_size(d));
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)d->p.max_tokens);
    uint8_t *blob = NULL;
    lx_pfile_header h;
    if (!buf || !tokens) {
        why = "out of memory reading it";
    } else if (!(why = read_header(d, fd, (uint64_t)st.st_size, buf, header_buf_size(d), &h, tokens))) {
        /* The file may have been rewritten since it was indexed: it must still hold these tokens. */
        if (h.n_tokens != e->n || memcmp(tokens, e->tokens, sizeof(int32_t) * (size_t)e->n) != 0) {
            why = "its tokens changed since it was indexed";
        } else if (!(blob = malloc((size_t)h.state_size))) {
            why = "out of memory reading it";
        } else {
            off_t at = (off_t)(LX_PFILE_HEADER_BYTES + 4 * (uint64_t)h.n_tokens);
            ssize_t got = read_at(fd, blob, (size_t)h.state_size, at);
            if (got < 0 || (uint64_t)got != h.state_size) why = "truncated state";
            else why = lx_pfile_check_state(&h, blob, (size_t)h.state_size);
        }
    }
    if (!why) futimens(fd, NULL); /* used now: the least recently used files are evicted first */
    close(fd);
    free(buf);
    free(tokens);
    if (why) {
        free(blob);
        d->ignored++;
        warnf(d, "prompt cache file %s/%s ignored: %s", d->dir, e->name, why);
        drop_entry(d, i);
        return false;
    }
    *state = blob;
    *size = (size_t)h.state_size;
    d->restores++;
    return true;
}

/* ----------------------------------------------------------------- saving */

typedef struct file_info {
    char name[64];
    uint64_t size;
    int64_t mtime_ns;
} file_info;

static int by_mtime(const void *a, const void *b) {
    const file_info *x = a, *y = b;
    return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

static void forget(lx_pdisk *d, const char *name) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].name, name) == 0) {
            drop_entry(d, i);
            return;
        }
}

void lx_pdisk_forget(lx_pdisk *d, const char *name, const char *why) {
    d->ignored++;
    warnf(d, "prompt cache file %s/%s ignored: %s", d->dir, name, why);
    forget(d, name);
}

/* Deletes the directory's least recently used cache files (any model's) until need more bytes
 * fit the budget, and temporary files left by dead writers. False when it still does not fit. */
static bool make_room(lx_pdisk *d, uint64_t need) {
    DIR *dir = opendir(d->dir);
    if (!dir) return false;
    file_info *files = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (de->d_name[0] == '.' && len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
            if (now - st.st_mtime > STALE_TMP_SECONDS) unlinkat(dirfd(dir), de->d_name, 0);
            continue;
        }
        if (len < strlen(SUFFIX) || strcmp(de->d_name + len - strlen(SUFFIX), SUFFIX) != 0 || len >= sizeof files->name)
            continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 64;
            file_info *grown = realloc(files, c * sizeof *grown);
            if (!grown) break;
            files = grown;
            cap = c;
        }
        snprintf(files[n].name, sizeof files[n].name, "%s", de->d_name);
        files[n].size = (uint64_t)st.st_size;
        files[n].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        total += files[n].size;
        n++;
    }
    if (n) qsort(files, n, sizeof *files, by_mtime);
    for (size_t i = 0; i < n && total + need > d->p.budget; i++) {
        if (unlinkat(dirfd(dir), files[i].name, 0) == 0 || errno == ENOENT) {
            total -= files[i].size;
            forget(d, files[i].name);
        }
    }
    closedir(dir);
    free(files);
    return total + need <= d->p.budget;
}

bool lx_pdisk_save(lx_pdisk *d, const int32_t *tokens, int32_t n, const uint8_t *state, size_t size) {
    if (n < d->p.min_tokens || n > d->p.max_tokens || size == 0) return false;
    for (size_t i = 0; i < d->n; i++)
        if (is_prefix(tokens, n, d->e[i].tokens, d->e[i].n)) {
            touch(d, d->e[i].name); /* already on disk, whole: used again */
            return false;
        }
    uint64_t total = LX_PFILE_HEADER_BYTES + 4 * (uint64_t)n + (uint64_t)size;
    if (size > d->p.budget || total > d->p.budget) return false;
    uint8_t *tok_bytes = malloc(4 * (size_t)n);
    if (!tok_bytes) return false;
    for (int32_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) tok_bytes[4 * (size_t)i + (size_t)b] = (uint8_t)((uint32_t)tokens[i] >> (8 * b));
    lx_pfile_header h = {.fingerprint = d->p.fingerprint, .n_tokens = n, .state_size = size,
                         .tokens_hash = lx_pfile_hash(LX_PFILE_HASH_INIT, tok_bytes, 4 * (size_t)n),
                         .state_hash = lx_pfile_hash(LX_PFILE_HASH_INIT, state, size)};
    uint8_t head[LX_PFILE_HEADER_BYTES];
    lx_pfile_write_header(&h, head);
    char name[48], path[PATH_MAX], tmp[PATH_MAX];
    snprintf(name, sizeof name, "%016" PRIx64 "-%016" PRIx64 SUFFIX, h.fingerprint, h.tokens_hash);
    int kt = snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", d->dir, name, (long)getpid());
    errno = 0;
    bool ok = path_of(d, name, path, sizeof path) == 0 && kt > 0 && (size_t)kt < sizeof tmp && make_room(d, total);
    int fd = -1;
    if (ok) {
        unlink(tmp); /* this process's own leftover (a failed earlier write) */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        ok = fd >= 0 && write_all(fd, head, sizeof head) && write_all(fd, tok_bytes, 4 * (size_t)n) &&
             write_all(fd, state, size);
        if (fd >= 0 && close(fd) != 0) ok = false;
        if (ok && rename(tmp, path) != 0) ok = false;
        if (!ok && fd >= 0) unlink(tmp);
    }
    free(tok_bytes);
    if (!ok) {
        if (!d->write_warned)
            warnf(d, "prompt cache directory %s: cannot write a %" PRIu64 "-byte file (%s); prefixes are not saved",
                  d->dir, total, errno ? strerror(errno) : "over the byte budget");
        d->write_warned = true;
        return false;
    }
    /* Files holding a prefix of these tokens are superseded. */
    for (size_t i = 0; i < d->n;) {
        if (is_prefix(d->e[i].tokens, d->e[i].n, tokens, n)) {
            char old[PATH_MAX];
            if (path_of(d, d->e[i].name, old, sizeof old) == 0) unlink(old);
            drop_entry(d, i);
        } else {
            i++;
        }
    }
    d->saves++;
    add_entry(d, name, tokens, n); /* out of memory: written, only this index lacks it */
    return true;
}
