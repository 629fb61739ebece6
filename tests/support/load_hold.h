/* A model load parked in its progress callback: pass load_hold_progress as the runtime's
 * llmux_runtime_params.progress; after load_hold_arm() the next load to report progress parks
 * in it (on whatever thread loads) until load_hold_release(). Tests use it to act while a load
 * is in progress without timing anything. One hold per test program: the callback has no
 * user data to find another (the runtime passes its own progress_user_data). */
#ifndef LX_TEST_LOAD_HOLD_H
#define LX_TEST_LOAD_HOLD_H

#include <stdbool.h>

/* The progress callback (llmux_progress_cb's shape). */
void load_hold_progress(float progress, void *user_data);
/* The next progress report parks; clears what an earlier hold left (parked, released). */
void load_hold_arm(void);
/* Waits until a load parked. */
void load_hold_wait_parked(void);
/* Whether a load is parked now and not yet released. */
bool load_hold_still_parked(void);
/* Lets the parked load (and any later report) go on. */
void load_hold_release(void);

#endif
