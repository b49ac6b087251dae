/* prov_shell.c: `barge provisioner`, the thin I/O shell around the decision core (prov.c) and
 * the drivers (driver_*.c).
 *
 * Start-up: barge.config is read to its end (a table, re-read at every start, by a group-less
 * consumer); the core is rebuilt from barge.instances and barge.capacity (compacted); then
 * barge.capacity and barge.instances are consumed from the group's committed offsets, skipping
 * what the rebuild already covered. Each batch is one Kafka transaction: the consumed offsets,
 * the scaling decisions (barge.scaling) and the instance events the provisioner writes
 * (LAUNCHING, DRAIN_REQUESTED, LAUNCH_FAILED, TERMINATED) commit together; a second provisioner
 * with the same transactional id fences this one. Driver actions (launch, terminate) happen
 * inside the transaction's window: a crash after a launch and before the commit leaves an
 * instance the core does not know; its agent's READY adopts it, or it never registers and the
 * scheduler's LOST, or the launch timeout, cleans it up.
 *
 * Time: the shell's own timer feeds Ticks (wall-clock ms) to the core every --tick-ms.
 * Instances that a driver runs in this process (sim) or as its children (local) end with it;
 * their heartbeats stop and the scheduler declares them LOST, which the restarted core acts on.
 *
 * Metrics (docs/metrics.md "Provisioner"): decisions and launches counted as they are carried
 * out, the per-CE vCPU gauges read from the core's views every tick.
 *
 * The loop itself (batches, transactions, dead letters, the config table) is lib/service.c; this
 * file holds the provisioner's hooks and its option table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "jsonget.h"
#include "metrics.h"
#include "opts.h"
#include "prov.h"
#include "prov_shell.h"
#include "service.h"
#include "stack.h"

/* ---- options ---- */

struct prov_opts {
  struct kafka_opts kafka;
  struct metrics_opts metrics;
  const char *driver, *txn_id, *catalog;
  int64_t tick_ms, batch, heartbeat_ms, stale_beats;
  struct prov_conf core;
  struct driver_conf dconf;
};

static void prov_opts_init(void *conf) {
  struct prov_opts *o = conf;
  prov_conf_defaults(&o->core);
  driver_conf_defaults(&o->dconf);
}

#define P struct prov_opts
static const struct opt_spec prov_rows[] = {
    OPT_ROW(P, driver, "driver", "local|sim|ec2", "local", "driver for compute environments that name none"),
    OPTS_KAFKA(P, kafka),
    OPT_ROW_DOC(P, txn_id, "transactional-id", "ID", "barge-provisioner, barge-provisioner-PREFIX under another topic prefix",
                "transactional id; a second provisioner with the same id fences the first"),
    OPT_ROW_DOC(P, catalog, "catalog", "FILE", "$BARGE_CATALOG, else the built-in one", "instance-type catalogue"),
    OPT_ROW_MIN(P, tick_ms, "tick-ms", "MS", "250", 1, "how often time advances in the core"),
    OPT_ROW_MIN(P, core.window_ms, "window-ms", "MS", NULL, 0, "scale-up decisions batched per CE over this window"),
    OPT_ROW_MIN(P, core.idle_delay_ms, "idle-delay-ms", "MS", NULL, 0, "scale-down delay for CEs without minScaleDownDelayMinutes"),
    OPT_ROW_MIN(P, core.launch_timeout_ms, "launch-timeout-ms", "MS", NULL, 1, "terminate a launched instance not READY by then"),
    OPT_ROW_MIN(P, core.unobtainable_ms, "unobtainable-ms", "MS", NULL, 0, "skip a type whose launch failed this long"),
    OPT_ROW_MIN(P, core.max_launch, "max-launch", "N", NULL, 1, "most instances one decision launches"),
    OPT_ROW_MIN(P, batch, "batch", "N", "2000", 1, "most input events per transaction"),
    OPT_ROW_DOC(P, dconf.log_dir, "log-dir", "DIR", "$BARGE_HOME/logs", "local driver: job logs (agent logs beside it)"),
    OPT_ROW_MIN(P, dconf.local_max_instances, "local-max-instances", "N", NULL, 0,
                "local driver: most agents at once (0: no cap)"),
    OPT_ROW_DOC_MIN(P, dconf.local_max_vcpus, "local-max-vcpus", "N", "this machine's cores x 4; 0, no cap", 0,
                "local driver: most vCPUs declared by all agents together"),
    OPT_ROW_DOC_MIN(P, dconf.local_max_memory, "local-max-memory", "MIB", "75% of this machine's memory; 0, no cap", 0,
                "local driver: most memory declared by all agents together"),
    OPT_ROW_MIN(P, heartbeat_ms, "heartbeat-ms", "MS", "5000", 1,
            "how often the provisioner says it serves each MANAGED compute environment (a HEARTBEAT on barge.scaling)"),
    OPT_ROW_MIN(P, stale_beats, "stale-heartbeats", "N", "3", 1,
            "a MANAGED compute environment is INVALID once this many heartbeats are missed"),
    OPT_ROW_MIN(P, dconf.agent_heartbeat_ms, "agent-heartbeat-ms", "MS", NULL, 1, "local and ec2 drivers: agents' heartbeat"),
    OPT_ROW_DOC_MIN(P, dconf.agent_fence_ms, "agent-fence-after-ms", "MS", "the agent's own: 5 heartbeats, at least 10000", 1,
                "local and ec2 drivers: the agents' --fence-after-ms; keep it below the scheduler's --lost-after-ms"),
    OPT_ROW_DOC(P, dconf.agent_runtime, "agent-runtime", "podman|docker|process|auto", "local: process; ec2: auto",
                "local and ec2 drivers: the agents' --runtime (docs/containers.md)"),
    OPT_ROW_DOC(P, dconf.agent_log_retention_h, "agent-log-retention-hours", "H", "0: kept for ever",
                "local and ec2 drivers: the agents' --log-retention-hours (docs/operations.md, \"Job logs on the agents\")"),
    OPT_ROW_DOC(P, dconf.agent_kafka_props, "agent-kafka-props", "K=V,...", "its own --kafka-props",
                "local driver: the agents' --kafka-props (their own Kafka principal, docs/operations.md)"),
    OPT_ROW_MIN(P, dconf.sim_boot_ms, "sim-boot-ms", "MS", NULL, 0, "sim driver: launch to READY"),
    OPT_ROW_MIN(P, dconf.sim_heartbeat_ms, "sim-heartbeat-ms", "MS", NULL, 1, "sim driver: heartbeat period"),
    OPT_ROW_MIN(P, dconf.sim_job_ms, "sim-job-ms", "MS", NULL, 0, "sim driver: job duration without BARGE_SIM_DURATION_MS"),
    OPT_ROW_MIN(P, dconf.sim_notice_ms, "sim-notice-ms", "MS", NULL, 0, "sim driver: spot interruption notice"),
    OPT_ROW_DOC_MIN(P, dconf.sim_interrupt_after_ms, "sim-interrupt-after-ms", "MS", "by rate", 0,
                "sim driver: interrupt every spot instance this long after READY"),
    OPT_ROW_DOC_MIN(P, dconf.sim_interrupt_count, "sim-interrupt-count", "N", "no limit", 0, "sim driver: at most N interruptions in all"),
    OPT_ROW_DOC(P, dconf.sim_interrupt_rate, "sim-interrupt-rate", "R", "the catalogue's rate",
                "sim driver: interruptions per spot instance-hour"),
    OPT_ROW(P, dconf.sim_time_scale, "sim-time-scale", "F", NULL, "sim driver: simulated time runs F times faster"),
    OPT_ROW(P, dconf.sim_unobtainable, "sim-unobtainable", "TYPES", NULL, "sim driver: comma-separated types whose launches fail"),
    OPT_ROW(P, dconf.sim_seed, "sim-seed", "N", NULL, "sim driver: random seed"),
    OPT_ROW_DOC(P, dconf.ec2_endpoint, "ec2-endpoint", "URL", "https://ec2.REGION.amazonaws.com", "ec2 driver: endpoint"),
    OPT_ROW_DOC(P, dconf.ec2_region, "ec2-region", "REGION", "$AWS_REGION, $AWS_DEFAULT_REGION, us-east-1", "ec2 driver: region"),
    OPT_ROW(P, dconf.ec2_image_id, "ec2-image-id", "AMI", NULL, "ec2 driver: AMI for CEs that name no imageId or launchTemplate"),
    OPT_ROW_DOC(P, dconf.ec2_agent_brokers, "ec2-agent-brokers", "HOST:PORT", "--brokers", "ec2 driver: brokers the instances' agents use"),
    OPT_ROW_DOC(P, dconf.ec2_agent_kafka_props, "ec2-agent-kafka-props", "K=V,...|@PATH", "none",
                "ec2 driver: the instances' agents' --kafka-props (TLS, SASL), written into user data; @PATH reads "
                "them from PATH on the instance, keeping secrets out of user data (docs/provisioner.md)"),
    OPT_ROW_DOC(P, dconf.ec2_agent_log_port, "ec2-agent-log-port", "PORT", "none",
                "ec2 driver: the instances' agents serve their jobs' logs on this port of the instance's private "
                "address, for `barge api` (needs --ec2-agent-log-token-file)"),
    OPT_ROW_DOC(P, dconf.ec2_agent_log_token, "ec2-agent-log-token-file", "PATH", "none",
                "ec2 driver: where on the instance the log server's secret is (the API's --log-token-file; the AMI "
                "or launch template puts it there)"),
    OPT_ROW_DOC(P, dconf.ec2_agent_log_tls_cert, "ec2-agent-log-tls-cert", "PATH", "none: plain HTTP",
                "ec2 driver: the log servers speak HTTPS with the PEM certificate at PATH on the instance (it must "
                "name the instance's private IPv4); needs --ec2-agent-log-tls-key"),
    OPT_ROW_DOC(P, dconf.ec2_agent_log_tls_key, "ec2-agent-log-tls-key", "PATH", "none",
                "ec2 driver: the PEM private key of --ec2-agent-log-tls-cert, on the instance"),
    OPT_ROW_MIN(P, dconf.ec2_max_retries, "ec2-max-retries", "N", NULL, 0, "ec2 driver: retries on throttling"),
    OPT_ROW_MIN(P, dconf.ec2_backoff_ms, "ec2-backoff-ms", "MS", NULL, 1, "ec2 driver: first backoff, doubling"),
    OPT_ROW_MIN(P, dconf.ec2_poll_ms, "ec2-poll-ms", "MS", NULL, 1, "ec2 driver: how often launched instances are described"),
    OPTS_METRICS(P, metrics),
};
#undef P

const struct opts_cmd prov_opts_cmd =
    OPTS_CMD("provisioner", "--driver local|sim|ec2 [options]",
    "The provisioner service: scales MANAGED compute environments through a driver (see provisioner.md).", prov_rows, struct prov_opts, prov_opts_init);

/* ---- state ---- */

#define NDRIVERS 3
static const char *const driver_names[NDRIVERS] = {"local", "sim", "ec2"};

struct shell {
  struct service_loop loop;
  struct prov *core;
  struct prov_outbox out;
  char source[128];
  const char *default_driver;
  struct driver_conf dconf;
  struct driver *drivers[NDRIVERS];
  json_t *ce_bodies;   /* CE name -> ComputeEnvironment record */
  int64_t *skip[TOPIC__COUNT]; /* per partition: offsets below this were covered by the rebuild */
  /* the latest CapacityDemand per CE read in this batch (only the latest matters: the scheduler
   * re-reports a CE's whole demand, busy set included, at every change) */
  struct pending_demand {
    char key[256];
    int32_t partition;
    int64_t offset, ts;
    unsigned char *value;
    size_t len;
  } *pending;
  size_t npending, cappending;
  long long decisions, launched, terminated;
  int64_t heartbeat_ms, stale_beats, last_beat; /* last_beat: mono ms */
  /* metrics (docs/metrics.md "Provisioner") */
  struct metric *m_decisions, *m_launched, *m_terminated, *m_desired, *m_actual, *m_instances;
};

static void init_metrics(struct shell *sh) {
  struct metrics *r = metrics_global();
  sh->m_decisions = metrics_counter(r, "barge_scaling_decisions_total",
                                    "scaling decisions written to barge.scaling, by compute environment and reason",
                                    "compute_environment,reason");
  sh->m_launched = metrics_counter(r, "barge_instances_launched_total", "instances a driver launched", "compute_environment");
  sh->m_terminated = metrics_counter(r, "barge_instances_terminated_total", "instances a driver terminated", NULL);
  sh->m_desired = metrics_gauge(r, "barge_ce_desired_vcpus", "desired vCPUs of a MANAGED compute environment",
                                "compute_environment");
  sh->m_actual = metrics_gauge(r, "barge_ce_actual_vcpus",
                               "vCPUs of a MANAGED compute environment's instances asked for, launching or ready",
                               "compute_environment");
  sh->m_instances = metrics_gauge(r, "barge_ce_instances", "instances of a MANAGED compute environment", "compute_environment");
}

/* The per-CE gauges of a MANAGED CE, refreshed every tick; a CE that is gone (or not MANAGED)
 * loses its series. */
static void ce_gauges(struct shell *sh, const char *ce, int gone) {
  const char *const *lv = METRIC_L(ce);
  int desired = gone ? -1 : prov_ce_desired(sh->core, ce);
  if (desired < 0) {
    metric_remove(sh->m_desired, lv);
    metric_remove(sh->m_actual, lv);
    metric_remove(sh->m_instances, lv);
    return;
  }
  metric_set(sh->m_desired, lv, desired);
  metric_set(sh->m_actual, lv, prov_ce_live_vcpus(sh->core, ce));
  metric_set(sh->m_instances, lv, prov_ce_instances(sh->core, ce));
}

static struct driver *get_driver(struct shell *sh, const char *name, char *err, size_t errlen) {
  if (!name || !*name) name = sh->default_driver;
  for (int i = 0; i < NDRIVERS; i++) {
    if (strcmp(name, driver_names[i])) continue;
    if (!sh->drivers[i]) {
      sh->drivers[i] = driver_new(name, &sh->dconf, err, errlen);
      if (sh->drivers[i]) log_info("driver %s ready", name);
    }
    return sh->drivers[i];
  }
  snprintf(err, errlen, "unknown driver '%s' (local, sim or ec2)", name);
  return NULL;
}

/* Adds a header to an event of the outbox (owned there) and produces it. */
static int produce(struct shell *sh, enum bus_topic t, const char *key, json_t *ev, int64_t at,
                   char *err, size_t errlen) {
  json_object_set_new(ev, "header", bus_header(sh->source, "", at));
  return bus_produce(service_producer(&sh->loop), t, key, ev, err, errlen);
}

/* Carries out the core's outputs: decisions and instance events to Kafka (in the open
 * transaction), launches and terminations through the drivers. */
static int process(struct shell *sh, char *err, size_t errlen) {
  if (sh->out.n && service_txn(&sh->loop, err, errlen)) return -1;
  for (size_t i = 0; i < sh->out.n; i++) {
    struct prov_out *o = &sh->out.ev[i]; /* re-read each time: launch results append */
    char why[1024] = "";
    switch (o->kind) {
    case PROV_OUT_DECISION:
      log_info("scaling %s: %s %lld -> %lld vCPUs: %s", o->ce, jget_str(o->ev, "reason"),
               (long long)jget_int(o->ev, "fromDesiredvCpus", 0),
               (long long)jget_int(o->ev, "toDesiredvCpus", 0),
               jget_str(o->ev, "detail"));
      sh->decisions++;
      metric_add(sh->m_decisions, METRIC_L(o->ce, jget_str(o->ev, "reason") ? jget_str(o->ev, "reason") : ""), 1);
      if (produce(sh, TOPIC_SCALING, o->ce, o->ev, o->at_ms, err, errlen)) return -1;
      break;
    case PROV_OUT_INSTANCE: {
      const char *id = jget_str(o->ev, "instanceId");
      char gen[40];
      if (!id || !*id) { /* LAUNCH_FAILED has no instance: a key of its own */
        char hex[18];
        random_hex(hex, 17);
        snprintf(gen, sizeof gen, "launch-failed-%s", hex);
        json_object_set_new(o->ev, "instanceId", json_string(gen));
        id = gen;
        log_warn("launch failed in %s: %s", o->ce, jget_str(o->ev, "reason"));
      }
      if (produce(sh, TOPIC_INSTANCES, id, o->ev, o->at_ms, err, errlen)) return -1;
      break;
    }
    case PROV_OUT_LAUNCH: {
      int64_t req = o->req;
      int count = o->count, spot = o->spot, type = o->type;
      double max_price = o->max_price;
      char ce[256], dname[32];
      snprintf(ce, sizeof ce, "%s", o->ce);
      snprintf(dname, sizeof dname, "%s", o->driver);
      const struct catalog_type *t = &sh->dconf.cat->types[type];
      struct driver *d = get_driver(sh, dname, why, sizeof why);
      char(*ids)[32] = xcalloc((size_t)count, sizeof *ids);
      const char **idp = xcalloc((size_t)count, sizeof *idp);
      int n = 0, rc = -1;
      if (d) {
        struct driver_launch dl = {ce, t, catalog_sched_mem(sh->dconf.cat, t), count, spot, max_price,
                                   json_object_get(sh->ce_bodies, ce)};
        rc = d->ops->launch(d, &dl, ids, &n, why, sizeof why);
      }
      for (int k = 0; k < n; k++) idp[k] = ids[k];
      if (n) log_info("launched %d x %s (%s) in %s through %s", n, t->name, spot ? "SPOT" : "ON_DEMAND", ce, d->ops->name);
      sh->launched += n;
      if (n) metric_add(sh->m_launched, METRIC_L(ce), n);
      prov_launch_result(sh->core, req, d ? d->ops->name : dname, idp, (size_t)n, rc || n < count ? why : NULL,
                         now_ms(), &sh->out);
      free(ids);
      free(idp);
      break;
    }
    case PROV_OUT_DRAIN: {
      struct driver *d = get_driver(sh, o->driver, why, sizeof why);
      if (d && d->ops->drain(d, o->instance, why, sizeof why)) log_warn("draining %s: %s", o->instance, why);
      break;
    }
    case PROV_OUT_TERMINATE: {
      struct driver *d = get_driver(sh, o->driver, why, sizeof why);
      if (!d || d->ops->terminate(d, o->instance, why, sizeof why)) {
        log_warn("terminating %s: %s (asked again later)", o->instance, why);
        break;
      }
      prov_terminate_done(sh->core, o->instance);
      sh->terminated++;
      metric_add(sh->m_terminated, NULL, 1);
      log_info("terminated %s (%s)", o->instance, jget_str(o->ev, "reason"));
      if (!d->ops->reports_terminated && o->ev &&
          produce(sh, TOPIC_INSTANCES, o->instance, o->ev, o->at_ms, err, errlen))
        return -1;
      break;
    }
    case PROV_OUT__COUNT:
      break;
    }
  }
  prov_outbox_reset(&sh->out);
  return 0;
}

/* ---- configuration ---- */

static int on_config(void *ctx, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev,
                     char *why, size_t whylen, char *err, size_t errlen) {
  (void)t;
  struct shell *sh = ctx;
  if (!ev) {
    char key[512];
    snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(sh->ce_bodies, tmp, k, v) {
      const char *arn = jget_str(v, "computeEnvironmentArn");
      if (!arn || strcmp(arn, key)) continue;
      ce_gauges(sh, k, 1);
      json_object_del(sh->ce_bodies, k);
    }
    prov_handle_config_delete(sh->core, key, m->timestamp_ms, &sh->out);
    return process(sh, err, errlen);
  }
  if (bus_event_time_check(ev, m->timestamp_ms, prov_now(sh->core), why, whylen)) return 1; /* as handle() */
  json_t *ce = json_object_get(json_object_get(ev, "body"), "ComputeEnvironment");
  const char *name = jget_str(ce, "computeEnvironmentName");
  if (name && !json_object_get(sh->ce_bodies, name)) sh->last_beat = 0; /* a new CE: say it is served at once */
  if (name) json_object_set(sh->ce_bodies, name, ce);
  int bad = prov_handle_config(sh->core, ev, &sh->out, why, whylen) ? 1 : 0;
  return process(sh, err, errlen) ? -1 : bad;
}

/* ---- rebuild ---- */

static void note_offset(struct shell *sh, const struct bus_msg *m) {
  int np = bus_topic_partitions(m->topic);
  if (!sh->skip[m->topic]) sh->skip[m->topic] = xcalloc((size_t)np, sizeof *sh->skip[m->topic]);
  if (m->partition >= 0 && m->partition < np && m->offset + 1 > sh->skip[m->topic][m->partition])
    sh->skip[m->topic][m->partition] = m->offset + 1;
}

static void restore_instance_cb(void *ctx, const struct bus_msg *m, const json_t *ev) {
  struct shell *sh = ctx;
  note_offset(sh, m);
  char why[512];
  if (ev && !bus_event_time_check(ev, m->timestamp_ms, 0, why, sizeof why)) /* else dead-lettered (handle) */
    prov_restore_instance(sh->core, ev);
}

static void restore_demand_cb(void *ctx, const struct bus_msg *m, const json_t *ev) {
  struct shell *sh = ctx;
  note_offset(sh, m);
  char why[512];
  if (ev && !bus_event_time_check(ev, m->timestamp_ms, 0, why, sizeof why)) /* else dead-lettered (handle) */
    prov_restore_demand(sh->core, ev);
}

static int covered(const struct shell *sh, const struct bus_msg *m) {
  const int64_t *s = sh->skip[m->topic];
  return s && m->partition >= 0 && m->partition < bus_topic_partitions(m->topic) && m->offset < s[m->partition];
}

/* ---- demand ---- */

static void stash_demand(struct shell *sh, const struct bus_msg *m) {
  char key[256];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  struct pending_demand *d = NULL;
  for (size_t i = 0; i < sh->npending && !d; i++)
    if (!strcmp(sh->pending[i].key, key)) d = &sh->pending[i];
  if (!d) {
    if (sh->npending == sh->cappending) {
      sh->cappending = sh->cappending ? sh->cappending * 2 : 8;
      sh->pending = xrealloc(sh->pending, sh->cappending * sizeof *sh->pending);
    }
    d = &sh->pending[sh->npending++];
    memset(d, 0, sizeof *d);
    snprintf(d->key, sizeof d->key, "%s", key);
  }
  free(d->value);
  d->value = xmalloc(m->len ? m->len : 1);
  memcpy(d->value, m->value, m->len);
  d->len = m->len;
  d->partition = m->partition;
  d->offset = m->offset;
  d->ts = m->timestamp_ms;
}

/* Handles an event that names a CE, catching up with barge.config first when the CE is new (at
 * most once every 10 s per name, for events about CEs that are gone). 0, 1 for invalid data
 * (why says it), -1 fatal. */
static int handle(struct shell *sh, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev, char *why,
                  size_t whylen, char *err, size_t errlen) {
  /* the core's clock is the latest event time: one CapacityDemand in microseconds, even for an
   * unknown CE, moved it 50,000 years on (idle instances drained at once, every later event the
   * provisioner wrote timed in that future) */
  if (bus_event_time_check(ev, m->timestamp_ms, prov_now(sh->core), why, whylen)) return 1;
  const char *ce = jget_str(ev, "computeEnvironment");
  if (ce && !json_object_get(sh->ce_bodies, ce) && service_config_catch_up_for(&sh->loop, ce, err, errlen)) return -1;
  if (t == BARGE_EV_CAPACITY_DEMAND) return prov_handle_demand(sh->core, ev, &sh->out, why, whylen) ? 1 : 0;
  if (t == BARGE_EV_INSTANCE_EVENT) return prov_handle_instance(sh->core, ev, &sh->out, why, whylen) ? 1 : 0;
  snprintf(why, whylen, "the provisioner does not take %s events", codec_type_name(t));
  return 1;
}

static int flush_demands(struct shell *sh, char *err, size_t errlen) {
  for (size_t i = 0; i < sh->npending; i++) {
    struct pending_demand *d = &sh->pending[i];
    struct bus_msg m = {.topic = TOPIC_CAPACITY, .partition = d->partition, .offset = d->offset, .timestamp_ms = d->ts,
                        .key = d->key, .keylen = strlen(d->key), .value = d->value, .len = d->len};
    enum barge_ev_type t;
    json_t *ev = NULL;
    char why[512];
    int dr = bus_decode(&m, &t, &ev, why, sizeof why);
    if (dr == BUS_DECODE_UNAVAILABLE) return service_decode_unavailable(&m, why, err, errlen);
    int bad = dr ? 1 : handle(sh, &m, t, ev, why, sizeof why, err, errlen);
    json_decref(ev);
    if (bad < 0) return -1;
    if (bad && service_dead_letter(&sh->loop, &m, why, err, errlen)) return -1;
    if (process(sh, err, errlen)) return -1;
    free(d->value);
    d->value = NULL;
  }
  sh->npending = 0;
  return 0;
}

/* ---- hooks ---- */

/* An instance the rebuilt core knows: its driver, if running (the default one is), watches it
 * again (the ec2 driver's poll). */
static void watch_restored(void *ctx, const char *id, const char *ce, const char *driver, const char *state, int type,
                           int spot) {
  (void)state;
  struct shell *sh = ctx;
  if (!driver || !*driver) driver = sh->default_driver;
  for (int i = 0; i < NDRIVERS; i++) {
    struct driver *d = sh->drivers[i];
    if (d && !strcmp(driver, driver_names[i]) && d->ops->watch && type >= 0 && (size_t)type < sh->dconf.cat->n)
      d->ops->watch(d, id, ce, &sh->dconf.cat->types[type], spot);
  }
}

/* Instances a driver has at the provider that barge.instances never recorded: launched just
 * before a crash, whose LAUNCHING did not commit. Each is recorded LAUNCHING now, so its READY
 * adopts it or the launch timeout terminates it (an agent that never registers would otherwise
 * run, and be billed, for ever); one of a compute environment no longer known is terminated. */
static int adopt_unrecorded(struct shell *sh, char *err, size_t errlen) {
  for (int i = 0; i < NDRIVERS; i++) {
    struct driver *d = sh->drivers[i];
    struct driver_instance *list = NULL;
    size_t n = 0;
    char why[512];
    if (!d || !d->ops->list) continue;
    if (d->ops->list(d, &list, &n, why, sizeof why)) {
      log_warn("driver %s: listing its instances: %s (instances launched before a crash are not looked for)",
               d->ops->name, why);
      free(list);
      continue;
    }
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++) {
      const struct driver_instance *di = &list[k];
      if (prov_instance_state(sh->core, di->id)) continue;
      if (prov_ce_desired(sh->core, di->ce) < 0) {
        log_warn("%s runs for compute environment %s, which is gone: terminating it", di->id, di->ce);
        if (d->ops->terminate(d, di->id, why, sizeof why)) log_warn("terminating %s: %s", di->id, why);
        continue;
      }
      log_warn("%s (%s in %s) was launched but never recorded (a crash before the commit): recorded LAUNCHING now",
               di->id, di->type->name, di->ce);
      json_t *ev = driver_instance_event(d, di->id, di->ce, "LAUNCHING", di->type,
                                         catalog_sched_mem(sh->dconf.cat, di->type), di->spot,
                                         "found at the provider after a restart, never recorded");
      char bad[256];
      rc = service_txn(&sh->loop, err, errlen) || produce(sh, TOPIC_INSTANCES, di->id, ev, now_ms(), err, errlen);
      if (!rc && prov_handle_instance(sh->core, ev, &sh->out, bad, sizeof bad)) log_warn("%s: %s", di->id, bad);
      if (!rc && d->ops->watch) d->ops->watch(d, di->id, di->ce, di->type, di->spot);
      json_decref(ev);
    }
    free(list);
    if (rc) return -1;
  }
  return 0;
}

static int on_restored(void *ctx, char *err, size_t errlen) {
  struct shell *sh = ctx;
  prov_restore_done(sh->core, &sh->out);
  prov_each_instance(sh->core, watch_restored, sh);
  if (adopt_unrecorded(sh, err, errlen)) return -1;
  return process(sh, err, errlen);
}

/* Records the rebuild covered, tombstones and demands (handled once per CE at the end of the
 * batch) are taken as they are. */
static int on_take(void *ctx, const struct bus_msg *m) {
  struct shell *sh = ctx;
  if (covered(sh, m) || !m->value) return 1;
  if (m->topic != TOPIC_CAPACITY) return 0;
  stash_demand(sh, m);
  return 1;
}

static int on_input(void *ctx, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev,
                    char *why, size_t whylen, char *err, size_t errlen) {
  struct shell *sh = ctx;
  int rc = handle(sh, m, t, ev, why, whylen, err, errlen);
  if (rc < 0 || process(sh, err, errlen)) return -1;
  return rc;
}

static int on_batch_done(void *ctx, char *err, size_t errlen) { return flush_demands(ctx, err, errlen); }

/* The CE health heartbeat (docs/provisioner.md "Compute environment status"): every
 * --heartbeat-ms, a HEARTBEAT ScalingDecision per MANAGED CE saying until when it counts as
 * served; DescribeComputeEnvironments calls a MANAGED CE INVALID once that time has passed. Not
 * a decision of the core: desiredvCpus is repeated as it is. */
static int heartbeat(struct shell *sh, char *err, size_t errlen) {
  int64_t mono = mono_ms();
  if (sh->last_beat && mono - sh->last_beat < sh->heartbeat_ms) return 0;
  sh->last_beat = mono;
  int64_t now = now_ms();
  const char *name;
  json_t *ce;
  json_object_foreach(sh->ce_bodies, name, ce) {
    const char *type = jget_str(ce, "type");
    if (!type || strcmp(type, "MANAGED")) continue;
    if (service_txn(&sh->loop, err, errlen)) return -1;
    int desired = prov_ce_desired(sh->core, name);
    char why[256];
    struct driver *d = get_driver(sh, jget_str(ce, "driver"), why, sizeof why);
    char detail[512];
    snprintf(detail, sizeof detail, "served by %s (driver %s%s%s)", sh->source, d ? d->ops->name : "?",
             d && d->limits[0] ? ": " : "", d ? d->limits : "");
    json_t *ev = json_pack("{s:s, s:s, s:i, s:i, s:[], s:[], s:s, s:s, s:I, s:I}", "computeEnvironment", name,
                           "computeEnvironmentArn", jget_str(ce, "computeEnvironmentArn") ? jget_str(ce, "computeEnvironmentArn") : "",
                           "fromDesiredvCpus", desired < 0 ? 0 : desired, "toDesiredvCpus", desired < 0 ? 0 : desired,
                           "launches", "terminations", "reason", "HEARTBEAT", "detail", detail, "at", (json_int_t)now,
                           "servedUntil", (json_int_t)(now + sh->stale_beats * sh->heartbeat_ms));
    int rc = produce(sh, TOPIC_SCALING, name, ev, now, err, errlen);
    json_decref(ev);
    if (rc) return -1;
  }
  return 0;
}

static int on_tick(void *ctx, char *err, size_t errlen) {
  struct shell *sh = ctx;
  prov_tick(sh->core, now_ms(), &sh->out);
  if (process(sh, err, errlen) || heartbeat(sh, err, errlen)) return -1;
  const char *name;
  json_t *ce;
  json_object_foreach(sh->ce_bodies, name, ce) {
    const char *type = jget_str(ce, "type"); /* only a MANAGED CE is scaled: no gauges for others */
    ce_gauges(sh, name, !type || strcmp(type, "MANAGED") != 0);
  }
  return 0;
}

/* After the commit: the drivers' own work (the sim's clock, ec2's describe calls). */
static int on_committed(void *ctx, char *err, size_t errlen) {
  struct shell *sh = ctx;
  for (int i = 0; i < NDRIVERS; i++)
    if (sh->drivers[i] && sh->drivers[i]->ops->poll(sh->drivers[i], err, errlen)) return -1;
  return 0;
}

static int on_stopping(void *ctx, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  struct shell *sh = ctx;
  log_info("%lld decisions, %lld instances launched, %lld terminated", sh->decisions, sh->launched, sh->terminated);
  return 0;
}

/* ---- main ---- */

/* The shell around a parsed command line: the drivers' configuration (log folders, bus, source),
 * the core, and the default driver, started now: the sim must be reading placements before it
 * launches anything. */
static int shell_init(struct shell *sh, struct prov_opts *o, const struct catalog *cat,
                      const struct bus_conf *bc, char *dsource, size_t dsn, char *err, size_t errlen) {
  static char home[3072], logs[4200];
  stack_home(home, sizeof home);
  if (!o->dconf.log_dir) {
    snprintf(logs, sizeof logs, "%s/logs", home);
    o->dconf.log_dir = logs;
  }
  if (mkdir_p(o->dconf.log_dir)) log_warn("cannot create %s", o->dconf.log_dir);
  prov_outbox_init(&sh->out);
  init_metrics(sh);
  sh->ce_bodies = json_object();
  sh->default_driver = o->driver;
  sh->heartbeat_ms = o->heartbeat_ms > 0 ? o->heartbeat_ms : 5000;
  sh->stale_beats = o->stale_beats > 0 ? o->stale_beats : 3;
  service_source("provisioner", sh->source, sizeof sh->source);
  service_source("driver", dsource, dsn);
  sh->dconf = o->dconf;
  sh->dconf.bus = *bc;
  sh->dconf.bus.client_id = "barge-driver";
  sh->dconf.cat = cat;
  sh->dconf.source = dsource;
  sh->dconf.agent_log_dir = home;
  /* the local driver's agents get a metrics endpoint when the provisioner has one */
  sh->dconf.agent_metrics_host = o->metrics.port >= 0 || o->metrics.fd > 0 ? (o->metrics.host ? o->metrics.host : "127.0.0.1") : NULL;
  o->core.cat = cat;
  sh->core = prov_new(&o->core);
  if (!get_driver(sh, o->driver, err, errlen)) return -1;
  log_info("driver %s, idle delay %lld ms, window %lld ms", o->driver, (long long)o->core.idle_delay_ms,
           (long long)o->core.window_ms);
  return 0;
}

static void shell_release(struct shell *sh) {
  for (int i = 0; i < NDRIVERS; i++) driver_free(sh->drivers[i]);
  prov_outbox_release(&sh->out);
  prov_free(sh->core);
  json_decref(sh->ce_bodies);
  for (int i = 0; i < TOPIC__COUNT; i++) free(sh->skip[i]);
  for (size_t i = 0; i < sh->npending; i++) free(sh->pending[i].value);
  free(sh->pending);
}

static const enum bus_topic prov_inputs[] = {TOPIC_CAPACITY, TOPIC_INSTANCES};
static const struct service_table prov_tables[] = {{TOPIC_INSTANCES, restore_instance_cb, NULL},
                                                   {TOPIC_CAPACITY, restore_demand_cb, NULL}};

int prov_service_main(int argc, char **argv) {
  struct prov_opts o;
  int r = opts_parse_or_exit(&prov_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  if (strcmp(o.driver, "local") && strcmp(o.driver, "sim") && strcmp(o.driver, "ec2")) {
    fprintf(stderr, "barge provisioner: --driver must be local, sim or ec2\n");
    return 2;
  }
  if (o.dconf.agent_log_retention_h < 0) {
    fprintf(stderr, "barge provisioner: --agent-log-retention-hours must be 0 (keep every log) or more, not %g\n",
            o.dconf.agent_log_retention_h);
    return 2;
  }
  /* 0, a negative or an endless scale was taken silently as 1 */
  if (!(o.dconf.sim_time_scale > 0) || isinf(o.dconf.sim_time_scale)) {
    fprintf(stderr, "barge provisioner: --sim-time-scale must be a number more than 0 (1: real time), not %g\n",
            o.dconf.sim_time_scale);
    return 2;
  }
  log_set_role("provisioner");
  if (service_metrics_start("provisioner", &o.metrics)) return 1;
  struct service_conn conn;
  if ((r = service_connect("provisioner", &o.kafka, "barge-provisioner", SERVICE_TOPICS | SERVICE_WAIT, &conn))) return service_stopping() ? 0 : r;
  char err[1024], txn_id[256], dsource[160];
  struct catalog *own_cat = NULL;
  if (o.catalog && catalog_load_file(o.catalog, &own_cat, err, sizeof err)) {
    fprintf(stderr, "barge provisioner: %s\n", err);
    return 2;
  }
  if (driver_ec2_check_conf(&o.dconf, err, sizeof err)) { /* bad settings: a usage error, before any connection */
    fprintf(stderr, "barge provisioner: %s\n", err);
    catalog_free(own_cat);
    return 2;
  }
  if (o.txn_id) snprintf(txn_id, sizeof txn_id, "%s", o.txn_id);
  else service_txn_id("barge-provisioner", conn.prefix, txn_id, sizeof txn_id);
  struct shell sh;
  memset(&sh, 0, sizeof sh);
  int rc = 1;
  if (shell_init(&sh, &o, own_cat ? own_cat : catalog_default(), &conn.bc, dsource, sizeof dsource, err, sizeof err)) {
    log_error("driver %s: %s", o.driver, err);
  } else {
    const struct service_def def = {
        .name = "provisioner", .group = "barge-provisioner", .txn_id = txn_id,
        .inputs = prov_inputs, .ninputs = 2, .tables = prov_tables, .ntables = 2,
        .batch = o.batch, .batch_ms = 50, .eager = 1, .tick_ms = o.tick_ms,
        .hooks = {.config = on_config, .restored = on_restored, .take = on_take, .handle = on_input,
                  .batch_done = on_batch_done, .tick = on_tick, .committed = on_committed,
                  .stopping = on_stopping}};
    rc = service_run(&sh.loop, &def, &sh, &conn.bc);
  }
  shell_release(&sh);
  catalog_free(own_cat);
  service_metrics_stop();
  return rc;
}
