/* states.h: predicates over the names events carry as strings: a job's status (JobStateChange,
 * JobRecord: SUBMITTED ... FAILED) and an InstanceEvent's kind (the InstanceKind symbols of
 * schemas/InstanceEvent.avsc). One place says which names mean "finished", "gone" or "alive",
 * so that the services and tools reading the same events agree; tests/unit/test_states.c checks
 * them against the schema. Every predicate takes a possibly NULL name (false). */
#ifndef BARGE_STATES_H
#define BARGE_STATES_H
#include <stdint.h>
#include <string.h>

/* SUCCEEDED or FAILED: the job will not change again. */
static inline int job_status_terminal(const char *status) {
  return status && (!strcmp(status, "SUCCEEDED") || !strcmp(status, "FAILED"));
}

/* STARTING or RUNNING: an attempt holds an instance. */
static inline int job_status_active(const char *status) {
  return status && (!strcmp(status, "STARTING") || !strcmp(status, "RUNNING"));
}

/* TERMINATED or LOST: an instance that came up has ended. */
static inline int instance_kind_ended(const char *kind) {
  return kind && (!strcmp(kind, "TERMINATED") || !strcmp(kind, "LOST"));
}

/* Ended, or LAUNCH_FAILED: the instance will never run anything (again). */
static inline int instance_kind_gone(const char *kind) {
  return instance_kind_ended(kind) || (kind && !strcmp(kind, "LAUNCH_FAILED"));
}

/* READY, HEARTBEAT, DRAIN_REQUESTED, DRAINED, INTERRUPTION_NOTICE: the instance is up (possibly
 * draining). The one kind neither live nor gone is LAUNCHING. */
static inline int instance_kind_live(const char *kind) {
  static const char *const live[] = {"READY", "HEARTBEAT", "DRAIN_REQUESTED", "DRAINED",
                                     "INTERRUPTION_NOTICE"};
  for (size_t i = 0; kind && i < sizeof live / sizeof *live; i++)
    if (!strcmp(kind, live[i])) return 1;
  return 0;
}

/* Agent incarnations (docs/architecture.md "Agent incarnations"): an agent restarted under the
 * same instance id says so with a larger `incarnation` in its READY and HEARTBEATs. An older
 * incarnation's late word (a beat, its process's TERMINATED at its stop, the scheduler's LOST of
 * it) read after a newer one's must not end, or revive, the instance the newer one serves.
 * Incarnation 0 is unknown (the provisioner's events, a driver's, an older agent's): never older.
 * Every reader of barge.instances (scheduler, provisioner, accounting, the views, the checker)
 * applies this one rule, through instance_incarnation_fold, in each instance's event order. */

/* READY, HEARTBEAT, TERMINATED or LOST: the kinds an incarnation's late word can be. */
static inline int instance_kind_incarnated(const char *kind) {
  return (kind && (!strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT"))) || instance_kind_ended(kind);
}

/* Is an event of kind, from incarnation inc, an older incarnation's late word about an instance
 * whose latest known incarnation is latest (0: none known)? */
static inline int instance_word_stale(int64_t latest, const char *kind, int64_t inc) {
  return inc > 0 && inc < latest && instance_kind_incarnated(kind);
}

/* The incarnation tracker of one instance: *latest (0 at first) is the latest incarnation its
 * READY and HEARTBEATs have brought. Folds one of its events (kind, inc) in: 1 when the event is
 * an older incarnation's late word, to be ignored whole (*latest unchanged); 0 when it is taken,
 * *latest risen to inc by a READY or HEARTBEAT. */
static inline int instance_incarnation_fold(int64_t *latest, const char *kind, int64_t inc) {
  if (instance_word_stale(*latest, kind, inc)) return 1;
  if (kind && (!strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT")) && inc > *latest) *latest = inc;
  return 0;
}
#endif
