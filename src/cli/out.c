/* stdout for one request's output (out.h). */
#include "out.h"

#include <errno.h>
#include <stdio.h>

bool cli_out_emit(out_state *o, const char *p, size_t n, bool newline) {
    if (o->write_errno) return false;
    errno = 0;
    bool ok = fwrite(p, 1, n, stdout) == n && (!newline || fputc('\n', stdout) != EOF) && fflush(stdout) == 0;
    if (!ok) o->write_errno = errno ? errno : EIO;
    return ok;
}

bool cli_out_text(out_state *o, const char *text, size_t n) {
    if (!cli_out_emit(o, text, n, false)) return false;
    o->wrote_text = true;
    o->last = text[n - 1];
    return true;
}
