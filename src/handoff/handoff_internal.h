/* Pieces of the handoff module shared between its files. */
#ifndef LX_HANDOFF_INTERNAL_H
#define LX_HANDOFF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "handoff/handoff.h"

/* A set of strings (not owned) for the ids already given out in one conversation. */
typedef struct lx_idset {
    const char **slots; /* open addressing, power-of-two size, NULL = free */
    size_t cap;
    size_t n;
} lx_idset;

/* Room for at least `expected` ids; false when out of memory. */
bool lx_idset_init(lx_idset *s, size_t expected);
void lx_idset_free(lx_idset *s);
bool lx_idset_has(const lx_idset *s, const char *id);
/* Adds id (the set keeps the pointer: it must outlive the set); the set never grows past the
 * size init was given, so callers size it for every id they will add. */
void lx_idset_add(lx_idset *s, const char *id);

/* The target's id for a call: `orig` itself when it is valid for the protocol and not taken yet,
 * else a sanitized form (invalid bytes -> '_', cut to the length limit; "call_<ordinal>" for an
 * empty id) made unique with a "_<n>" suffix. The result is in the arena and added to the set.
 * NULL when out of memory. */
const char *lx_handoff_assign_id(lx_idset *s, lx_arena *a, lx_handoff_protocol p, const char *orig, size_t ordinal);

#endif
