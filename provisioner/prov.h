/* prov.h: the provisioner's decision core, a pure deterministic state machine (docs/architecture.md
 * "Time and determinism", docs/provisioner.md; docs/job-model.md §4.3, 4.5, 4.6).
 *
 *   (state, event) -> (state', outputs)
 *
 * Inputs: compute environments (ConfigRecord), the scheduler's CapacityDemand per CE,
 * InstanceEvents, Ticks, and the result of each launch the core asked for. Outputs: scaling
 * decisions (ScalingDecision bodies), instance events to publish (LAUNCHING, DRAIN_REQUESTED,
 * LAUNCH_FAILED), and actions for a driver (launch N of type T, drain, terminate). The core never
 * reads the clock, the network or a random source: time is the largest event time seen; ties
 * break on list order and instance id. The shell (prov_shell.c) does the I/O and adds headers.
 *
 * An instance's life, as the core sees it (-> names the input that moves it):
 *
 *   (launch request) --launch result--> LAUNCHING --READY--> READY --idle past delay--> DRAINING
 *        |                                  |                  |  \--INTERRUPTION_NOTICE--^  |
 *        +--failed: LAUNCH_FAILED           +--timeout--+      +--TERMINATED/LOST--+        | DRAINED
 *                                                       v                          v        v
 *                                                  TERMINATING --TERMINATED--> (gone) <-- TERMINATING
 *
 * An agent restarted under the same instance id has a larger incarnation: word from an older one
 * (READY, HEARTBEAT, TERMINATED, LOST) read after the newer one's moves nothing (incarnation 0 =
 * unknown, taken; docs/provisioner.md "Agent restarts").
 *
 * Capacity counted toward desiredvCpus ("live"): pending launches, LAUNCHING and READY instances
 * not under an interruption notice. Draining and terminating instances are on their way out.
 *
 * Threads: one thread at a time per struct prov. */
#ifndef BARGE_PROV_H
#define BARGE_PROV_H
#include <jansson.h>
#include <stdint.h>

#include "catalog.h"
#include "util.h"

enum prov_strategy {
  PROV_BEST_FIT,
  PROV_BEST_FIT_PROGRESSIVE,
  PROV_BEST_FIT_PROGRESSIVE_ORDERED,
  PROV_SPOT_CAPACITY_OPTIMIZED,
  PROV_SPOT_PRICE_CAPACITY_OPTIMIZED,
  PROV_SPOT_CAPACITY_OPTIMIZED_PRIORITIZED,
  PROV_STRATEGY__COUNT
};
const char *prov_strategy_name(enum prov_strategy s);
int prov_strategy_parse(const char *s); /* -1 if unknown */

struct prov_conf {
  const struct catalog *cat;   /* NULL = catalog_default() */
  int64_t window_ms;           /* scale-up decisions batched per CE over this window (1000) */
  int64_t idle_delay_ms;       /* scale-down delay when minScaleDownDelayMinutes is unset (60000) */
  int64_t launch_timeout_ms;   /* a launched instance not READY by then is terminated (600000) */
  int64_t unobtainable_ms;     /* a type that failed to launch is skipped this long (60000) */
  int64_t ready_grace_ms;      /* a READY instance not reported busy takes reported demand that
                                  fits it (no launch for it) this long after registering (30000) */
  int64_t terminate_retry_ms;  /* a terminate with no TERMINATED after this is asked again (60000) */
  int max_launch;              /* most instances one decision launches (20000) */
};
void prov_conf_defaults(struct prov_conf *c);

enum prov_out_kind {
  PROV_OUT_DECISION,  /* ev: a ScalingDecision without header -> barge.scaling, key ce */
  PROV_OUT_INSTANCE,  /* ev: an InstanceEvent without header -> barge.instances, key instance
                         (an empty instanceId, LAUNCH_FAILED only, is for the shell to fill) */
  PROV_OUT_LAUNCH,    /* driver: launch `count` of catalogue type `type` for ce; answer with
                         prov_launch_result(req, ...) */
  PROV_OUT_DRAIN,     /* driver: the instance is draining (DRAIN_REQUESTED already emitted) */
  PROV_OUT_TERMINATE, /* driver: terminate the instance; ev: the TERMINATED event to publish
                         once done unless the driver reports it itself */
  PROV_OUT__COUNT
};

struct prov_out {
  enum prov_out_kind kind;
  char *ce;      /* CE name (owned) */
  char *driver;  /* driver name ("" = the shell's default) (owned) */
  int64_t at_ms;
  json_t *ev;    /* owned; see the kinds */
  /* LAUNCH */
  int64_t req;
  int type;      /* catalogue index */
  int count;
  int spot;
  double max_price; /* SPOT: price ceiling per hour from bidPercentage; 0 = none */
  /* DRAIN, TERMINATE */
  char instance[32];
};

struct prov_outbox {
  struct prov_out *ev;
  size_t n, cap;
};
void prov_outbox_init(struct prov_outbox *o);
void prov_outbox_reset(struct prov_outbox *o);
void prov_outbox_release(struct prov_outbox *o);

struct prov;
struct prov *prov_new(const struct prov_conf *conf);
void prov_free(struct prov *p);

/* Input handlers (Barge's JSON convention, codec.h). Each appends what to do to out and returns
 * 0, or non-zero when the event is invalid data (err says why; the state is unchanged). */
int prov_handle_config(struct prov *p, const json_t *config_record, struct prov_outbox *out,
                       char *err, size_t errlen) BARGE_WUR;
void prov_handle_config_delete(struct prov *p, const char *arn, int64_t at_ms,
                               struct prov_outbox *out);
int prov_handle_demand(struct prov *p, const json_t *capacity_demand, struct prov_outbox *out,
                       char *err, size_t errlen) BARGE_WUR;
int prov_handle_instance(struct prov *p, const json_t *instance_event, struct prov_outbox *out,
                         char *err, size_t errlen) BARGE_WUR;
void prov_tick(struct prov *p, int64_t at_ms, struct prov_outbox *out);
/* The answer to a PROV_OUT_LAUNCH: the ids launched (n of them, n <= count) by driver; when
 * n < count, fail_reason says why the rest failed (the type is then skipped for a while, or
 * waited for under BEST_FIT). */
void prov_launch_result(struct prov *p, int64_t req, const char *driver, const char *const *ids,
                        size_t n, const char *fail_reason, int64_t at_ms, struct prov_outbox *out);

/* The driver terminated the instance (a PROV_OUT_TERMINATE done). An instance the scheduler
 * declared LOST is forgotten then (no TERMINATED follows a LOST); until then its terminate is
 * asked again every terminate_retry_ms. */
void prov_terminate_done(struct prov *p, const char *id);

/* Start-up rebuild from the compacted tables: every barge.instances record in order (no
 * outputs), then prov_restore_demand for the barge.capacity records, then prov_restore_done,
 * which emits what the restored state calls for (terminating instances already drained). */
void prov_restore_instance(struct prov *p, const json_t *instance_event);
void prov_restore_demand(struct prov *p, const json_t *capacity_demand);
void prov_restore_done(struct prov *p, struct prov_outbox *out);

/* Views for the shell, tests and the bench. */
int64_t prov_now(const struct prov *p);
/* Calls fn for every live instance (pending launches excluded): id, CE, driver, state name,
 * catalogue index of its type (-1 unknown), and whether it is spot. */
void prov_each_instance(const struct prov *p,
                        void (*fn)(void *ctx, const char *id, const char *ce, const char *driver,
                                   const char *state, int type, int spot),
                        void *ctx);
/* A CE's desired vCPUs, live vCPUs (pending + launching + ready), instance count; -1 if the CE
 * is unknown. */
int prov_ce_desired(const struct prov *p, const char *ce);
int prov_ce_live_vcpus(const struct prov *p, const char *ce);
int prov_ce_instances(const struct prov *p, const char *ce);
/* The state of one instance ("PENDING" never: pending launches have no id yet), or NULL. */
const char *prov_instance_state(const struct prov *p, const char *id);

#endif
