/* Building llmux_model_list: one arena per list, owned by a private container, so
 * llmux_model_list_free() releases everything at once. At most LX_MODELS_MAX entries unless
 * made with lx_model_list_new_max. */
#ifndef LX_MODELS_H
#define LX_MODELS_H

#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"

#define LX_MODELS_MAX 20000u
/* Pages one paginated listing may take: with the providers' 1000-entry pages that is far past
 * any real catalog, and it stops a server that keeps handing out new cursors. */
#define LX_MODELS_MAX_PAGES 50

/* An empty list; NULL when out of memory. */
llmux_model_list *lx_model_list_new(void);
/* An empty list that takes up to `max` entries instead of LX_MODELS_MAX (the model catalog's
 * export: a full provider list plus the shipped entries); NULL when out of memory. */
llmux_model_list *lx_model_list_new_max(size_t max);

/* Appends an entry with id "<prefix>/<name>" (prefix NULL or "" = name alone), provider
 * copied, display name NULL, lengths -1 and prices NaN, and gives it to the caller to fill in
 * *out (strings through lx_model_list_strdup); the pointer is valid until the next append.
 * Errors: LLMUX_E_UPSTREAM_PROTOCOL past the list's maximum, LLMUX_E_OUT_OF_MEMORY. */
llmux_status lx_model_list_push(llmux_model_list *l, const char *prefix, const char *name, const char *provider,
                                llmux_model_info **out, llmux_error_info *err);

/* Appends a copy of one entry (strings copied into l's arena); errors as lx_model_list_push. */
llmux_status lx_model_list_push_copy(llmux_model_list *l, const llmux_model_info *src, llmux_error_info *err);

/* Appends copies of src's entries to dst, in order (a later page of the same list); src is
 * left as it was and stays the caller's. Errors: LLMUX_E_UPSTREAM_PROTOCOL when dst would pass
 * its maximum (dst unchanged), LLMUX_E_OUT_OF_MEMORY (dst may hold some of src). */
llmux_status lx_model_list_append(llmux_model_list *dst, const llmux_model_list *src, llmux_error_info *err);

/* Copies into the list's arena. NULL in gives NULL out; NULL out otherwise means out of memory. */
char *lx_model_list_strdup(llmux_model_list *l, const char *s);

#endif
