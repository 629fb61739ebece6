#define _XOPEN_SOURCE 700
#include "support/pg_server.h"

#include <arpa/inet.h>
#include <glob.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pg_server {
    char bin[PATH_MAX];   /* .../bin, holding initdb, pg_ctl, createdb */
    char dir[PATH_MAX];   /* the temporary directory: data/, the socket, logs */
    char as[64];          /* "runuser -u postgres -- " as root, else "" */
    int port;
    bool running;
    char url[256];
};

/* The newest installed version's bin directory (glob sorts, so "16" after "15"; versions are
 * two digits since PostgreSQL 10). */
static bool find_bin(char *out, size_t size) {
    /* LLMUX_TEST_PG_BIN names another installation (a non-Debian system); a directory without
     * initdb means "not installed", which is also how the SKIP path is exercised. */
    const char *env = getenv("LLMUX_TEST_PG_BIN");
    if (env && *env) {
        char initdb[PATH_MAX];
        snprintf(out, size, "%s", env);
        snprintf(initdb, sizeof initdb, "%s/initdb", env);
        return access(initdb, X_OK) == 0;
    }
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0) {
        globfree(&g);
        return false;
    }
    const char *last = g.gl_pathv[g.gl_pathc - 1];
    snprintf(out, size, "%.*s", (int)(strlen(last) - strlen("/initdb")), last);
    globfree(&g);
    return access(out, X_OK) == 0;
}

/* A port nobody listens on now: bind to port 0 and read what the kernel picked. Another process
 * could take it before the server does; the server would then fail to start, loudly. */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int sh(const pg_server *s, const char *what, const char *fmt, const char *arg) {
    char cmd[4 * PATH_MAX], body[3 * PATH_MAX];
    snprintf(body, sizeof body, fmt, s->as, s->bin, arg ? arg : "");
    snprintf(cmd, sizeof cmd, "%s >>'%s/commands.log' 2>&1", body, s->dir);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "pg_server: %s failed (%d): %s\n", what, rc, body);
        char show[PATH_MAX + 64];
        snprintf(show, sizeof show, "cat '%s/commands.log' '%s/server.log' >&2 2>/dev/null", s->dir, s->dir);
        if (system(show) != 0) fprintf(stderr, "pg_server: no logs\n");
    }
    return rc == 0 ? 0 : -1;
}

static int start_server(pg_server *s) {
    char opts[PATH_MAX + 128];
    /* -k: the Unix socket in our directory (the default /var/run/postgresql may not exist);
     * fsync off: a test database need not survive a power cut. */
    snprintf(opts, sizeof opts, "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s->port, s->dir);
    char fmt[3 * PATH_MAX];
    snprintf(fmt, sizeof fmt, "%%s'%%s/pg_ctl' -D '%s/data' -l '%s/server.log' -w -t 60 -o '%%s' start", s->dir, s->dir);
    if (sh(s, "pg_ctl start", fmt, opts) != 0) return -1;
    s->running = true;
    return 0;
}

int pg_server_start(const char *db, pg_server **out) {
    *out = NULL;
    pg_server *s = calloc(1, sizeof *s);
    if (!s) return -1;
    if (!find_bin(s->bin, sizeof s->bin)) {
        fprintf(stderr, "pg_server: no initdb in %s (apt-get install postgresql): skipped\n",
                getenv("LLMUX_TEST_PG_BIN") ? getenv("LLMUX_TEST_PG_BIN") : "/usr/lib/postgresql/*/bin");
        free(s);
        return PG_SERVER_SKIP;
    }
    snprintf(s->dir, sizeof s->dir, "/tmp/llmux-pg-XXXXXX");
    if (!mkdtemp(s->dir)) {
        free(s);
        return -1;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(s->dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "pg_server: running as root needs the `postgres` user (from the postgresql package)\n");
            pg_server_destroy(s);
            return -1;
        }
        snprintf(s->as, sizeof s->as, "runuser -u postgres -- ");
    }
    s->port = free_port();
    char fmt[2 * PATH_MAX];
    snprintf(fmt, sizeof fmt, "%%s'%%s/initdb' -D '%s/data' -U postgres -A trust -E UTF8 --no-sync%%s", s->dir);
    if (s->port < 0 || sh(s, "initdb", fmt, "") != 0 || start_server(s) != 0) {
        pg_server_destroy(s);
        return -1;
    }
    char createdb[160];
    snprintf(createdb, sizeof createdb, "%%s'%%s/createdb' -h 127.0.0.1 -p %d -U postgres %%s", s->port);
    if (sh(s, "createdb", createdb, db) != 0) {
        pg_server_destroy(s);
        return -1;
    }
    snprintf(s->url, sizeof s->url, "postgresql://postgres@127.0.0.1:%d/%s", s->port, db);
    *out = s;
    return 0;
}

const char *pg_server_url(const pg_server *s) { return s->url; }

int pg_server_stop(pg_server *s) {
    if (!s->running) return 0;
    char fmt[2 * PATH_MAX];
    snprintf(fmt, sizeof fmt, "%%s'%%s/pg_ctl' -D '%s/data' -m fast -w stop%%s", s->dir);
    int rc = sh(s, "pg_ctl stop", fmt, "");
    if (rc == 0) s->running = false;
    return rc;
}

int pg_server_restart(pg_server *s) { return s->running ? 0 : start_server(s); }

void pg_server_destroy(pg_server *s) {
    if (!s) return;
    if (s->running) pg_server_stop(s);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) fprintf(stderr, "pg_server: could not remove %s\n", s->dir);
    free(s);
}
