/* Internal cancel-token helpers. A token may be linked to a parent: it then reads as triggered
 * when either itself or its parent is, so an execution can hold its own token (triggered by the
 * consumer that stops reading, or by the runtime) that also follows the caller's token, and the
 * transport and the engine still check a single token. */
#ifndef LX_CANCEL_H
#define LX_CANCEL_H

#include "llmux.h"

/* A new token following parent (borrowed; may be NULL; must outlive the new token). NULL when
 * out of memory. Release with llmux_cancel_destroy. */
llmux_cancel *lx_cancel_create_linked(const llmux_cancel *parent);

#endif
