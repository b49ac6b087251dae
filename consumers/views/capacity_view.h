/* capacity_view.h: the provisioner's current desiredvCpus and health per compute environment,
 * read from barge.scaling (the latest ScalingDecision and heartbeat of each CE), for
 * DescribeComputeEnvironments. */
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
/* A MANAGED CE stored as VALID whose latest heartbeat's servedUntil is before now (or that no
 * provisioner has served within CE_SERVE_GRACE_MS of its last change) becomes INVALID with a
 * statusReason saying so (docs/provisioner.md "Compute environment status"). served as
 * scaling_view_load gives it (lib/views.h); launch as capacity_fold_launch and
 * capacity_fold_ce_changed fill it (NULL: no grace). */
#define CE_SERVE_GRACE_MS 15000
void capacity_view_set_health(json_t *ces, const json_t *served, const json_t *launch, int64_t now);

/* Launch outcomes per CE, into launch = {CE name: {"failed": its latest LAUNCH_FAILED
 * InstanceEvent, "launchedAt": the latest LAUNCHING or READY, "changedAt": the CE's latest
 * configuration write}}. Order-independent (the latest by time wins), so the topics and their
 * partitions may be read in any order. capacity_fold_launch takes any InstanceEvent,
 * capacity_fold_ce_changed a ComputeEnvironment written at at_ms. */
void capacity_fold_launch(json_t *launch, const json_t *ev);
void capacity_fold_ce_changed(json_t *launch, const char *ce, int64_t at_ms);
/* A MANAGED CE still VALID whose latest launch failed with a client error (an EC2 answer 4xx
 * other than a capacity shortage or throttling: a bad AMI, subnet, security group, instance
 * profile, an account limit), with no launch since and no change of the CE since, becomes
 * INVALID with statusReason "CLIENT_ERROR - <EC2's error>", as AWS Batch reports it
 * (docs/provisioner.md "Compute environment status"). Capacity shortages leave it VALID. */
void capacity_view_set_launch_error(json_t *ces, const json_t *launch);
#endif
