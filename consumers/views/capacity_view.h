/* capacity_view.h: the provisioner's current desiredvCpus per compute environment, read from
 * barge.scaling (the latest ScalingDecision of each CE), for DescribeComputeEnvironments. */
#ifndef BARGE_CAPACITY_VIEW_H
#define BARGE_CAPACITY_VIEW_H
#include <jansson.h>

#include "bus.h"

/* Sets computeResources.desiredvCpus of each item of ces (DescribeComputeEnvironments items)
 * that the provisioner has decided on (desired = {CE name: toDesiredvCpus}, the latest
 * ScalingDecision of each CE in barge.scaling, a delete-retention topic keyed by CE name).
 * capacity_view_set_instances adds to each item a Barge member `instances`: the CE's live
 * instances (id, type, last state, capacity) from latest = {instance id: its latest
 * InstanceEvent}. AWS has no such member; clients ignore unknown members. The view (view.h)
 * holds both tables. */
void capacity_view_set_desired(json_t *ces, const json_t *desired);
void capacity_view_set_instances(json_t *ces, const json_t *latest);
#endif
