/* Body pieces shared by the chat-style adapters (OpenAI Chat Completions and compatible servers,
 * Ollama /api/chat), whose messages and tools arrays have the same shape. */
#ifndef LX_PROVIDERS_CHAT_H
#define LX_PROVIDERS_CHAT_H

#include <jansson.h>

#include "llmux.h"

/* Adds one canonical message (index mi) to a chat-style "messages" array, in the adapter's format. */
typedef llmux_status (*lx_chat_message_fn)(json_t *msgs, const llmux_message *m, size_t mi, llmux_error_info *err);

/* body["messages"] for a chat-style API (OpenAI Chat Completions, Ollama /api/chat): the
 * request's system prompt first as {"role": "system"}, then each message through add. No
 * message at all, or messages NULL with n_messages > 0, is LLMUX_E_INVALID_REQUEST; out of
 * memory names `who`. */
llmux_status lx_chat_messages(json_t *body, const llmux_request *req, lx_chat_message_fn add, const char *who,
                              llmux_error_info *err);

/* body["tools"] in the chat-style function format ({"type": "function", "function": {"name",
 * "description", "parameters"}}) when the request has tools; a tool without parameters gets an
 * empty object schema. A missing name or invalid parameters JSON is LLMUX_E_INVALID_REQUEST. */
llmux_status lx_chat_tools(json_t *body, const llmux_request *req, const char *who, llmux_error_info *err);

#endif
