/* llama.cpp and ggml log through one process-wide callback. The engine installs it once (quiet:
 * nothing is printed) and lets a thread capture the error lines logged while it loads a model,
 * so a failed load can quote llama.cpp's reason ("tensor 'x' has wrong shape") instead of a
 * generic "failed to load model". The capture buffer is thread-local: concurrent loads on other
 * threads never mix their reasons. */
#ifndef LX_LLAMA_LOG_H
#define LX_LLAMA_LOG_H

/* Installs the log callback and initialises llama.cpp's backends, once per process. Every engine
 * entry point that calls into llama.cpp calls this first. */
void lx_llama_init(void);

/* Starts capturing this thread's error lines (clears what an earlier capture kept). */
void lx_llama_log_begin(void);
/* Stops capturing; returns the error lines seen since lx_llama_log_begin, joined by "; " with
 * llama.cpp's function-name prefixes and generic follow-up lines ("failed to load model")
 * removed (a generic line is returned only when it is all there was), truncated to a few
 * hundred bytes; "" when there were none. The text stays valid until this thread's next
 * lx_llama_log_begin. */
const char *lx_llama_log_end(void);

#endif
