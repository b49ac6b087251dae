/* dash_events.c: the dashboard's live updates (dash.h). The view calls dash_events_listen, under
 * its write lock, for every job whose status it changed as it applies barge.jobs (and for each
 * submission this API acknowledged); the change goes into a ring of the last DASH_EVENTS, each
 * with a sequence number. A stream (or a poll of /dashboard/api/changes) reads the ring after
 * the last number it saw; one that fell more than the ring behind is told to reset (reload). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dash_int.h"
#include "http.h"
#include "util.h"

/* The queue's name in its ARN ("arn:...:job-queue/NAME"). */
static const char *queue_name(const char *arn) {
  const char *slash = arn ? strrchr(arn, '/') : NULL;
  return slash ? slash + 1 : arn ? arn : "";
}

void dash_events_listen(void *ctx, const struct vjob_info *j, const char *prev) {
  struct dash *d = ctx;
  pthread_mutex_lock(&d->ev_mu);
  struct dash_event *e = &d->ring[d->next_seq % DASH_EVENTS];
  e->seq = d->next_seq++;
  e->at_ms = now_ms();
  snprintf(e->id, sizeof e->id, "%s", j->id);
  snprintf(e->name, sizeof e->name, "%s", j->name ? j->name : "");
  snprintf(e->queue, sizeof e->queue, "%s", queue_name(j->queue));
  snprintf(e->status, sizeof e->status, "%s", j->status ? j->status : "");
  snprintf(e->prev, sizeof e->prev, "%s", prev ? prev : "");
  pthread_cond_broadcast(&d->ev_cond);
  pthread_mutex_unlock(&d->ev_mu);
}

int64_t dash_events_last(struct dash *d) {
  pthread_mutex_lock(&d->ev_mu);
  int64_t last = d->next_seq - 1;
  pthread_mutex_unlock(&d->ev_mu);
  return last;
}

static json_t *event_json(const struct dash_event *e) {
  char name[sizeof e->name];
  snprintf(name, sizeof name, "%s", e->name);
  utf8_fix(name); /* a name cut in the middle of a character */
  json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t)e->seq, "at", (json_int_t)e->at_ms, "id",
                        e->id, "name", name, "queue", e->queue, "status", e->status);
  if (e->prev[0]) json_object_set_new(j, "prev", json_string(e->prev)); /* absent for a new job */
  return j;
}

/* dash_events_since with ev_mu held. */
static int64_t since_locked(struct dash *d, int64_t since, size_t max, json_t *out, int *reset) {
  int64_t last = d->next_seq - 1, first = d->next_seq - DASH_EVENTS;
  if (first < 1) first = 1;
  if (since > last) since = last; /* a number from before a restart, or any (?since= is the client's) */
  *reset = since < first - 1;
  if (*reset) since = first - 1;
  for (int64_t s = since + 1; s <= last && json_array_size(out) < max; s++)
    json_array_append_new(out, event_json(&d->ring[s % DASH_EVENTS]));
  return json_array_size(out) ? json_integer_value(json_object_get(json_array_get(out, json_array_size(out) - 1), "seq"))
                              : last;
}

int64_t dash_events_since(struct dash *d, int64_t since, size_t max, json_t *out, int *reset) {
  pthread_mutex_lock(&d->ev_mu);
  int64_t last = since_locked(d, since, max, out, reset);
  pthread_mutex_unlock(&d->ev_mu);
  return last;
}

int dash_stream_open(struct dash *d) {
  pthread_mutex_lock(&d->ev_mu);
  int ok = !d->stopping && d->streams < d->conf.max_streams;
  if (ok) d->streams++;
  pthread_mutex_unlock(&d->ev_mu);
  return ok ? 0 : -1;
}

void dash_stream_close(struct dash *d) {
  pthread_mutex_lock(&d->ev_mu);
  d->streams--;
  pthread_mutex_unlock(&d->ev_mu);
}

ssize_t dash_stream_read(struct dash *d, int64_t *seq, char *buf, size_t n, int wait_ms) {
  pthread_mutex_lock(&d->ev_mu);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += wait_ms / 1000;
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  while (!d->stopping && d->next_seq - 1 <= *seq && *seq >= 0)
    if (pthread_cond_timedwait(&d->ev_cond, &d->ev_mu, &until)) break;
  if (d->stopping) {
    pthread_mutex_unlock(&d->ev_mu);
    return -1;
  }
  int reset = 0;
  json_t *evs = json_array();
  int64_t last = since_locked(d, *seq < 0 ? d->next_seq - 1 : *seq, 64, evs, &reset);
  pthread_mutex_unlock(&d->ev_mu);
  size_t used = 0, i;
  json_t *e;
  if (reset && n > 32) used += (size_t)snprintf(buf, n, "event: reset\ndata: {}\n\n");
  json_array_foreach(evs, i, e) {
    char *text = json_dumps(e, JSON_COMPACT);
    int w = snprintf(buf + used, n - used, "id: %lld\nevent: job\ndata: %s\n\n",
                     (long long)json_integer_value(json_object_get(e, "seq")), text);
    free(text);
    if (w < 0 || (size_t)w >= n - used) { /* no room: the rest comes next time */
      last = json_integer_value(json_object_get(e, "seq")) - 1;
      buf[used] = 0;
      break;
    }
    used += (size_t)w;
  }
  json_decref(evs);
  if (!used) used = (size_t)snprintf(buf, n, ": keep-alive\n\n");
  *seq = last;
  return (ssize_t)used;
}
