/* ce_history.h: each compute environment's desired and actual vCPUs over time, for the
 * dashboard's chart (docs/dashboard.md "Compute environments"), folded from the same events as
 * the view (view.h): desired is the toDesiredvCpus of each ScalingDecision on barge.scaling;
 * actual is the vCPUs of the CE's instances asked for, launching or ready (as the provisioner's
 * barge_ce_actual_vcpus, docs/metrics.md), after each InstanceEvent on barge.instances. A point
 * is kept only when the figure changes (heartbeats add none), at the event's `at`, in time order;
 * a series keeps its last CE_HISTORY_POINTS points. What the topics no longer hold (barge.instances
 * is compacted to each instance's latest event) is not in the history. Pure: no I/O, no clock. */
#ifndef BARGE_CE_HISTORY_H
#define BARGE_CE_HISTORY_H
#include <jansson.h>
#include <stdint.h>

#define CE_HISTORY_POINTS 2000

struct ce_history;
struct ce_history *ce_history_new(void);
void ce_history_free(struct ce_history *h);
/* One decoded ScalingDecision / InstanceEvent (others are ignored). */
void ce_history_fold_scaling(struct ce_history *h, const json_t *ev);
void ce_history_fold_instance(struct ce_history *h, const json_t *ev);
/* {"desired": [[at, vCPUs], ...], "actual": [[at, vCPUs], ...]} of ce (new reference): the
 * points at or after since, and the one before it (where the line starts); empty arrays for a
 * CE with no history. */
json_t *ce_history_json(const struct ce_history *h, const char *ce, int64_t since);
#endif
