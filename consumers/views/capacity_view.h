/* capacity_view.h: the provisioner's current desiredvCpus per compute environment, read from
 * barge.scaling (the latest ScalingDecision of each CE), for DescribeComputeEnvironments. */
#ifndef BARGE_CAPACITY_VIEW_H
#define BARGE_CAPACITY_VIEW_H
#include <jansson.h>

#include "bus.h"

/* Reads barge.scaling to its end. 0 with *out = {CE name: latest toDesiredvCpus} (owned). */
int capacity_view_load(const struct bus_conf *bc, json_t **out, char *err, size_t errlen) BARGE_WUR;

/* Sets computeResources.desiredvCpus of each item of ces (DescribeComputeEnvironments items)
 * that the provisioner has decided on, and adds to each item a Barge member `instances`: the
 * CE's live instances (id, type, last state, capacity) from barge.instances. AWS has no such
 * member; clients ignore unknown members. On a read failure of either table that half is left
 * out (logged). */
void capacity_view_annotate(const struct bus_conf *bc, json_t *ces);
/* The pure halves of the above, for given records: desired = {CE name: toDesiredvCpus},
 * latest = {instance id: its latest InstanceEvent}. */
void capacity_view_set_desired(json_t *ces, const json_t *desired);
void capacity_view_set_instances(json_t *ces, const json_t *latest);
#endif
