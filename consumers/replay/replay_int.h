/* replay_int.h: what the files of `barge replay simulate` share: replay_sim.c (the simulation
 * around the scheduler and provisioner cores), replay_record.c (the recorded run and the
 * figures of both sides) and replay_fleet.c (instance types and replay's own fleet model).
 * Not for use outside consumers/replay/. */
#ifndef BARGE_REPLAY_INT_H
#define BARGE_REPLAY_INT_H
#include <jansson.h>
#include <stdint.h>

#include "catalog.h"
#include "heap.h"
#include "jsonget.h"
#include "prov.h"
#include "replay.h"
#include "sched_core.h"

#define DEFAULT_TICK_MS 1000
#define DEFAULT_HORIZON_MS (7LL * 24 * 3600 * 1000)
#define STALL_MS (2LL * 3600 * 1000)
#define CATALOGUE_BOOT_MS 30000
#define LEARNED_BOOT_MS 1000
#define SCALE_DOWN_MS 60000
#define MAX_SHAPES 200000

/* job/instance id -> index, on a jansson object (ids are unique strings) */
static inline int idx_get(json_t *map, const char *id) {
  json_t *v = json_object_get(map, id);
  return v ? (int)json_integer_value(v) : -1;
}
static inline void idx_put(json_t *map, const char *id, int i) {
  json_object_set_new(map, id, json_integer(i));
}
static inline int64_t ev_time(const json_t *ev) {
  return jget_int(json_object_get(ev, "header"), "event_time", 0);
}

struct i64v {
  int64_t *v;
  size_t n, cap;
};
void replay_i64_push(struct i64v *a, int64_t x);
/* The median of a (sorted in place), or def when empty. */
int64_t replay_median(struct i64v *a, int64_t def);

/* intervals for peaks and cost */
struct span {
  int64_t start, end; /* end INT64_MAX: open */
  int v;
  double price; /* per hour */
};
struct spans {
  struct span *v;
  size_t n, cap;
};
void replay_span_push(struct spans *s, int64_t start, int64_t end, int v, double price);

/* ---- the recorded run (replay_record.c) ---- */

enum att_kind { ATT_EXITED, ATT_TIMED_OUT, ATT_FAILED_TO_START, ATT_TERMINATED, ATT_LOST };

struct rec_attempt {
  enum att_kind kind;
  int64_t placed_at, running_at, end_at; /* running_at/end_at -1: not seen */
  int has_exit;
  int exit_code;
  char *reason;
  long run_ord, end_ord; /* positions in barge.job-events of its RUNNING and end changes, -1 */
};

struct rec_job {
  char *id, *parent, *name;
  int is_parent, in_scope;
  int multi_node; /* a multi-node parent: no attempts of its own */
  int64_t created, first_runnable, first_starting, stopped;
  char status[16];
  int vcpus;
  struct rec_attempt *att;
  int natt, closed;
};

struct rec_inst {
  char *id, *ce, *type, *driver;
  int v, m, g;
  double price;
  int spot;
  int64_t launching, ready, ended, first_seen;
};

struct recording {
  struct rec_job *jobs;
  size_t njobs;
  json_t *job_idx; /* id -> index */
  struct rec_inst *insts;
  size_t ninsts;
  json_t *inst_idx;
  long nevents; /* job state changes read, in barge.job-events order */
};

/* Takes the job state changes in the order barge.job-events holds them (each partition in its
 * order): an attempt's run_ord and end_ord are positions in that order. */
void replay_rec_event(struct recording *r, const json_t *job_state_change);
void replay_rec_instance(struct recording *r, const json_t *instance_event);
int64_t replay_rec_inst_start(const struct rec_inst *n);
void replay_recording_free(struct recording *r);

/* One side of the report (recorded or simulated), filled job by job and instance by instance. */
struct side {
  size_t succeeded, failed; /* top-level jobs */
  int64_t t0, t1;           /* first createdAt, last stoppedAt of top-level jobs */
  struct i64v waits;        /* first STARTING - first RUNNABLE of each job that ran */
  struct spans fleet, jobs; /* instances alive (vCPUs, price), attempts running (vCPUs) */
  int launched;
};
void replay_side_init(struct side *sd);
/* Counts one job: top-level jobs count in the totals and the makespan; waits is whether its
 * queue wait counts (not array parents). status is an enum job_status, or -1. */
void replay_side_job(struct side *sd, int top, int status, int64_t created, int64_t stopped,
                     int waits, int64_t first_runnable, int64_t first_starting);
/* Settles t0/t1 once every job is counted (t0_default when no job was created). */
void replay_side_bounds(struct side *sd, int64_t t0_default);
/* The outcome object of a side ("jobs", "succeeded", ..., "cost"); releases the side. */
json_t *replay_side_outcome(struct side *sd, size_t top);
/* {"status", "attempts", "runnableAt", "startingAt", "stoppedAt"} of one job on one side; a time
 * that never came (-1) is null. */
json_t *replay_job_times(const char *status, int attempts, int64_t runnable, int64_t starting,
                         int64_t stopped);

/* ---- instance types (replay_fleet.c) ---- */

struct itype {
  char name[64];
  int v, m;
  double price, spot_price;
  int64_t boot_ms;
  int learned;
};

/* ---- the simulation (replay_sim.c) ---- */

enum sev_kind {
  SEV_REQUEST,       /* ev: a JobRequest for the scheduler core */
  SEV_TICK,          /* time passes (both cores) */
  SEV_READY,         /* instance a registers (both cores) */
  SEV_TERMINATE,     /* instance a ends (recorded unmanaged instances) */
  SEV_EXEC,          /* ev: an ExecutionReport for the scheduler core */
  SEV_TO_SCHED,      /* ev: an InstanceEvent from the provisioner for the scheduler core */
  SEV_PROV_DEMAND,   /* ev: a CapacityDemand from the scheduler for the provisioner core */
  SEV_PROV_INSTANCE  /* ev: an InstanceEvent from the scheduler for the provisioner core */
};

struct sev {
  int64_t at;
  uint64_t seq;
  enum sev_kind kind;
  int a;      /* instance index */
  json_t *ev; /* the event to feed (REQUEST, EXEC) */
  long rank;  /* EXEC: the position in barge.job-events of the change the recording's report
                 made (struct rec_attempt's run_ord, end_ord), -1 when none */
};

enum inst_state { SI_LAUNCHING, SI_READY, SI_GONE };

struct sim_inst {
  char id[64];
  int ce;
  char type[64];
  int v, m, g;
  double price;
  int spot;
  int64_t launched_at, ended_at;
  enum inst_state state;
  int njobs;
  int64_t idle_since;
  int warm;    /* alive when the range starts (recorded) */
  int managed; /* scaled by the fleet model */
};

struct sim_ce {
  char *name, *arn;
  int managed;
  int maxv, minv;
  char strategy[48];
  int spot;
  struct itype *types; /* candidates */
  size_t ntypes;
  int64_t boot_ms, scale_down_ms; /* -1: per type / default */
  json_t *demand;                 /* latest CapacityDemand shapes */
  int launched;
};

struct sim_job {
  char *id;
  int top, is_parent;
  int64_t created, first_runnable, first_starting, stopped;
  int status; /* enum job_status */
  int attempts;
  int inst; /* sim instance index of the live attempt, -1 */
  int64_t placed_at; /* of the live attempt, -1 */
  int vcpus;
};

struct sim {
  const struct replay_sim_input *in;
  struct recording rec;
  struct sched *core;
  struct outbox out;
  struct heap q;
  uint64_t seq;
  int64_t now;
  struct sim_ce *ces;
  size_t nces;
  struct sim_inst *insts;
  size_t ninsts, capinsts; /* grown by doubling: by one, ASan's realloc copied them all each time */
  json_t *inst_idx;
  struct sim_job *jobs;
  size_t njobs;
  json_t *job_idx;
  struct itype *learned;
  size_t nlearned;
  struct spans job_spans;
  size_t unfinished_top;
  size_t live_attempts; /* STARTING or RUNNING (a multi-node worker may outlive its parent) */
  int64_t last_change;
  size_t no_recording, rejected, deps_dropped;
  int64_t default_run_ms, default_delay_ms;
  json_t *run_by_name; /* jobName -> median run ms */
  json_t *notes;
  /* the provisioner core (capacity_model "provisioner") */
  struct prov *prov;
  struct prov_outbox pout;
  const struct catalog *cat;
  int decisions;
  char err[512];
};

void replay_push(struct sim *s, int64_t at, enum sev_kind k, int a, json_t *ev /* @owned */);
void replay_note(struct sim *s, const char *text);
int replay_add_inst(struct sim *s, const char *id, int ce, const char *type, int v, int m, int g,
                    double price, int spot, int64_t at);
json_t *replay_instance_event(struct sim *s, const struct sim_inst *in, const char *kind,
                              int64_t at);
int replay_fleet_v(struct sim *s, int ce);
int replay_ce_by_name(struct sim *s, const char *name); /* index, or -1 */ /* vCPUs of a CE's instances not gone */
int replay_feed(struct sim *s, enum barge_ev_type t, const json_t *ev);

/* ---- replay_fleet.c ---- */

/* The types the recording shows (with its boot delays), the built-in catalogue, ALT's. */
void replay_build_types(struct sim *s);
const struct itype *replay_learned_type(struct sim *s, const char *name);
/* A MANAGED CE's candidate types for replay's fleet model, from its computeResources. */
void replay_resolve_types(struct sim *s, struct sim_ce *c, const json_t *cr);
/* The fleet model: keeps a CE's latest CapacityDemand; launches and ends instances. */
void replay_fleet_demand(struct sim *s, const struct out_ev *e);
void replay_fleet_scale(struct sim *s);

#endif
