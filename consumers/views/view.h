/* view.h: the state the read operations answer from (query.h): barge.config (config_view),
 * barge.jobs (jobs_store), and for DescribeComputeEnvironments the latest scaling decision of
 * every compute environment (barge.scaling) and the latest event of every instance
 * (barge.instances). The `barge` command line loads one per call (view_load); `barge api` keeps
 * one current by consuming the same topics (producers/api/view_live.c), so the two answer
 * through the same code. Not thread-safe: the caller locks. */
#ifndef BARGE_VIEW_H
#define BARGE_VIEW_H
#include <jansson.h>

#include "bus.h"
#include "ce_history.h"
#include "jobs_store.h"
#include "views.h"

struct view {
  struct config_view cv;
  struct jobs_store *jobs;
  json_t *scaling;   /* CE name -> toDesiredvCpus */
  json_t *served;    /* CE name -> its latest provisioner heartbeat (scaling_fold) */
  json_t *instances; /* instance id -> latest InstanceEvent (an older agent incarnation's left out) */
  json_t *incarnations; /* instance id -> its agent's latest incarnation (instance_event_stale) */
  json_t *launch;    /* CE name -> its launch outcomes (capacity_fold_launch) */
  struct ce_history *history; /* desired and actual vCPUs over time per CE (the dashboard's chart) */
  /* config key -> the event this process wrote (null for a deletion), kept over what the topic
   * says until the view reads that very event back (read-your-writes; view_written) */
  json_t *pending;
};

/* Which tables a view holds. */
enum { VIEW_CONFIG = 1, VIEW_JOBS = 2, VIEW_CAPACITY = 4, VIEW_ALL = 7 };

void view_init(struct view *v);
void view_release(struct view *v);
/* The topics a view of `tables` reads, into out (at most 4); their count. */
int view_topics(unsigned tables, enum bus_topic *out);
/* Applies one message of a topic the view reads (undecodable ones are skipped with a warning). */
void view_apply(struct view *v, const struct bus_msg *m);
/* Reads the tables to their end into v (view_init'ed). 0, or API_SERVER_ERROR with the reason. */
int view_load(const struct bus_conf *bc, struct view *v, unsigned tables, char *err,
              size_t errlen) BARGE_WUR;
/* A write this process made and Kafka acknowledged (value borrowed; NULL for a tombstone):
 * shown by the view at once. A configuration write holds until the view reads it back; a
 * SubmitJob shows as a SUBMITTED job until the scheduler's record arrives. */
void view_written(struct view *v, enum bus_topic t, const char *key, const json_t *value);
#endif
