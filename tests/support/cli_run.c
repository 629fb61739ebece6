#define _XOPEN_SOURCE 700
#include "support/cli_run.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char g_dir[PATH_MAX];

int cli_scratch_create(const char *prefix) {
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(tmpl)) return -1;
    /* `llmux serve` runs local models in its sandboxed engine child, which drops to user 65534
     * when started as root: models under the scratch directory must be reachable by that user,
     * as they must be for any real deployment. */
    if (chmod(tmpl, 0755) != 0) return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    return 0;
}

int cli_scratch_remove(void) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

const char *cli_scratch(void) { return g_dir; }

void cli_run(const char *cmdline, cli_result *r) {
    char errpath[PATH_MAX], cmd[16384];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", g_dir);
    snprintf(cmd, sizeof cmd, "%s 2>'%s'", cmdline, errpath);
    r->code = -1;
    r->out[0] = r->err[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return;
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *e = fopen(errpath, "r");
    n = e ? fread(r->err, 1, sizeof r->err - 1, e) : 0;
    r->err[n] = '\0';
    if (e) fclose(e);
}
