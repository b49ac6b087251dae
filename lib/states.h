/* states.h: predicates over the names events carry as strings: a job's status (JobStateChange,
 * JobRecord: SUBMITTED ... FAILED) and an InstanceEvent's kind (the InstanceKind symbols of
 * schemas/InstanceEvent.avsc). One place says which names mean "finished", "gone" or "alive",
 * so that the services and tools reading the same events agree; tests/unit/test_states.c checks
 * them against the schema. Every predicate takes a possibly NULL name (false). */
#ifndef BARGE_STATES_H
#define BARGE_STATES_H
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
#endif
