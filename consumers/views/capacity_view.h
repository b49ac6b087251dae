/* capacity_view.h: the provisioner's current desiredvCpus and health per compute environment,
 * read from barge.scaling (the latest ScalingDecision and heartbeat of each CE), for
 * DescribeComputeEnvironments. */
#ifndef BARGE_CAPACITY_VIEW_H
#define BARGE_CAPACITY_VIEW_H
#include <jansson.h>

#include "bus.h"

/* Reads barge.scaling to its end. 0 with *desired = {CE name: latest toDesiredvCpus} and
 * *served = {CE name: {servedUntil, at, detail} of its latest provisioner heartbeat} (both owned,
 * set even on failure). */
int capacity_view_load(const struct bus_conf *bc, json_t **desired, json_t **served, char *err,
                       size_t errlen) BARGE_WUR;

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
/* A MANAGED CE stored as VALID whose latest heartbeat's servedUntil is before now (or that no
 * provisioner ever served) becomes INVALID with a statusReason saying so (docs/provisioner.md
 * "Compute environment status"). served as capacity_view_load gives it. */
void capacity_view_set_health(json_t *ces, const json_t *served, int64_t now);
#endif
