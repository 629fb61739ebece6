/* Growable byte buffer with a hard cap (like curl's dynbuf): appending past `max` fails and
 * leaves the buffer as it was. Always NUL-terminated when data != NULL. */
#ifndef LX_BUF_H
#define LX_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lx_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;  /* hard cap on len */
} lx_buf;

void lx_buf_init(lx_buf *b, size_t max);
void lx_buf_free(lx_buf *b);
/* Empties without freeing. */
void lx_buf_reset(lx_buf *b);
/* False when out of memory or past the cap (buffer unchanged). */
bool lx_buf_append(lx_buf *b, const void *p, size_t n);
bool lx_buf_append_str(lx_buf *b, const char *s);
bool lx_buf_printf(lx_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Removes the first n bytes. */
void lx_buf_consume(lx_buf *b, size_t n);
/* Hands the data to the caller (free()) and empties the buffer; returns "" copy when empty. */
char *lx_buf_steal(lx_buf *b);

#endif
