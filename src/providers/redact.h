/* Masking credentials in upstream text: every error that leaves an adapter with upstream text in
 * it goes through here (upstreams echo keys back: 401 bodies do), and the private copies of a
 * configured key that decoders keep. Whole-token matching is transport/redact.h's. */
#ifndef LX_PROVIDERS_REDACT_H
#define LX_PROVIDERS_REDACT_H

#include "llmux.h"

/* Masks with '*', in place (s never grows), anything in s that looks like a credential: tokens
 * that start with "sk-", "sk_", "AIza", and the token after "Bearer " / "key=". `secret` (the
 * configured key; may be NULL) is masked wherever it appears as a whole token (transport/redact.h:
 * a short key never rewrites the words that contain it), also when s ends inside it. */
void lx_redact_secrets(char *s, const char *secret);

/* Masks the configured key (and credential-shaped tokens, as lx_redact_secrets) in err's
 * message, provider_message and provider_code. Every error that leaves an adapter with upstream
 * text in it goes through this with cfg->api_key: upstreams echo the key back (401 bodies do). */
void lx_redact_error(llmux_error_info *err, const char *key);

/* For decoders: when st is an error, masks key in err and in the decoder's sticky copy (either
 * may be NULL). Returns st. */
llmux_status lx_redact_status(llmux_status st, llmux_error_info *err, llmux_error_info *sticky, const char *key);

/* A private copy of the configured key for an object that outlives the config's borrow (NULL
 * for NULL or ""); lx_secret_free wipes it before freeing. NULL also on out of memory: masking is
 * then limited to credential-shaped tokens. */
char *lx_secret_dup(const char *key);
void lx_secret_free(char *key);

#endif
