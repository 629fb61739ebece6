/* A throwaway PostgreSQL server for tests: initdb + pg_ctl from Debian's packages
 * (/usr/lib/postgresql/<version>/bin) on a temporary directory and a free port on 127.0.0.1, with
 * trust authentication and one database. As root (CI) the server runs as the `postgres` OS user
 * (PostgreSQL refuses to run as root), through `runuser -u postgres --`, in a directory owned by
 * that user. */
#ifndef LX_PG_SERVER_H
#define LX_PG_SERVER_H

/* The exit code CTest reads as "skipped" (SKIP_RETURN_CODE). */
#define PG_SERVER_SKIP 77

typedef struct pg_server pg_server;

/* Starts a server with a database named `db`. Returns 0 with *out set; PG_SERVER_SKIP when the
 * PostgreSQL binaries are not installed (nothing started); -1 on any other failure (a message
 * on stderr, the server log printed). */
int pg_server_start(const char *db, pg_server **out);
/* "postgresql://postgres@127.0.0.1:PORT/DB". Owned by the server. */
const char *pg_server_url(const pg_server *s);
/* Stops the server process (fast shutdown) but keeps its data; 0 on success. */
int pg_server_stop(pg_server *s);
/* Starts it again on the same port and data; 0 on success. */
int pg_server_restart(pg_server *s);
/* Stops the server if running, removes the directory, frees. Accepts NULL. */
void pg_server_destroy(pg_server *s);

#endif
