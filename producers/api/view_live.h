/* view_live.h: `barge api`'s in-memory view (consumers/views/view.h), kept current by a
 * background consumer (read_committed, no group) of barge.config, barge.jobs, barge.scaling
 * and barge.instances from their beginning. Reads share a read lock and run concurrently; the
 * consumer applies what it polls under the write lock, in short batches. The process's own
 * acknowledged writes are shown at once (view_live_written), before the topics carry them back
 * (docs/api.md, "Reads"). */
#ifndef BARGE_VIEW_LIVE_H
#define BARGE_VIEW_LIVE_H
#include <jansson.h>

#include "bus.h"
#include "view.h"

struct view_live;

/* Starts the consumer thread. NULL with the reason when the consumer cannot be made. */
struct view_live *view_live_start(const struct bus_conf *bc, char *err, size_t errlen);
void view_live_stop(struct view_live *l);

/* The view under the read lock: waits until the first load has read every table to the end it
 * had at start (at most wait_ms). 0 with *v; or API_SERVER_ERROR with the reason (no lock held). */
int view_live_read(struct view_live *l, int wait_ms, const struct view **v, char *err,
                   size_t errlen) BARGE_WUR;
/* Waits (at most wait_ms) until the view has read the tables `tables` (VIEW_*) up to the ends
 * they have now, so that a read shows what another process wrote before it asked (a read
 * with API_SYNC_READ_HEADER, from the `barge` command line). 0 when caught up; 1 after wait_ms
 * (an open transaction of the scheduler holds the end back until it commits); -1 when the
 * ends cannot be asked for. */
int view_live_sync(struct view_live *l, unsigned tables, int wait_ms);
/* Releases what view_live_read took. */
void view_live_done(struct view_live *l);
/* An acknowledged write of this process (view_written, under the write lock). */
void view_live_written(struct view_live *l, enum bus_topic t, const char *key, const json_t *value);
/* Called, under the write lock, for each job whose status the view changed (a new job: prev
 * NULL): the dashboard's live updates (dash.h). j and prev are valid during the call only; the
 * listener must not call back into the view. One listener; fn NULL removes it. */
typedef void (*view_live_listener)(void *ctx, const struct vjob_info *j, const char *prev);
void view_live_listen(struct view_live *l, view_live_listener fn, void *ctx);
/* Marks each job id the view has (a record or this process's submission): found[i] = its array
 * size for an array parent, 1 for any other job (as jobs_exist, lib/views.h). */
void view_live_known(struct view_live *l, const char *const *ids, size_t n, int *found);
#endif
