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
 * their heartbeats stop and the scheduler declares them LOST, which the restarted core acts on. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "opts.h"
#include "prov.h"
#include "prov_shell.h"
#include "stack.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

#define NDRIVERS 3
static const char *const driver_names[NDRIVERS] = {"local", "sim", "ec2"};

struct shell {
  struct prov *core;
  struct prov_outbox out;
  struct bus_producer *prod;
  struct bus_consumer *main_c, *cfg_c;
  char source[128];
  int in_txn;
  int64_t cfg_next; /* the next barge.config offset to read */
  const char *default_driver;
  struct driver_conf dconf;
  struct driver *drivers[NDRIVERS];
  json_t *ce_bodies;   /* CE name -> ComputeEnvironment record */
  json_t *unknown_ces; /* CE name -> when barge.config was last caught up for it (mono ms) */
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
};

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

static int ensure_txn(struct shell *sh, char *err, size_t errlen) {
  if (sh->in_txn) return 0;
  if (bus_txn_begin(sh->prod, err, errlen)) return -1;
  sh->in_txn = 1;
  return 0;
}

/* Adds a header to an event of the outbox (owned there) and produces it. */
static int produce(struct shell *sh, enum bus_topic t, const char *key, json_t *ev, int64_t at,
                   char *err, size_t errlen) {
  json_object_set_new(ev, "header", bus_header(sh->source, "", at));
  return bus_produce(sh->prod, t, key, ev, err, errlen);
}

/* Carries out the core's outputs: decisions and instance events to Kafka (in the open
 * transaction), launches and terminations through the drivers. */
static int process(struct shell *sh, char *err, size_t errlen) {
  if (sh->out.n && ensure_txn(sh, err, errlen)) return -1;
  for (size_t i = 0; i < sh->out.n; i++) {
    struct prov_out *o = &sh->out.ev[i]; /* re-read each time: launch results append */
    char why[1024] = "";
    switch (o->kind) {
    case PROV_OUT_DECISION:
      log_info("scaling %s: %s %lld -> %lld vCPUs: %s", o->ce, json_string_value(json_object_get(o->ev, "reason")),
               (long long)json_integer_value(json_object_get(o->ev, "fromDesiredvCpus")),
               (long long)json_integer_value(json_object_get(o->ev, "toDesiredvCpus")),
               json_string_value(json_object_get(o->ev, "detail")));
      sh->decisions++;
      if (produce(sh, TOPIC_SCALING, o->ce, o->ev, o->at_ms, err, errlen)) return -1;
      break;
    case PROV_OUT_INSTANCE: {
      const char *id = json_string_value(json_object_get(o->ev, "instanceId"));
      char gen[40];
      if (!id || !*id) { /* LAUNCH_FAILED has no instance: a key of its own */
        char hex[18];
        random_hex(hex, 17);
        snprintf(gen, sizeof gen, "launch-failed-%s", hex);
        json_object_set_new(o->ev, "instanceId", json_string(gen));
        id = gen;
        log_warn("launch failed in %s: %s", o->ce, json_string_value(json_object_get(o->ev, "reason")));
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
      sh->terminated++;
      log_info("terminated %s (%s)", o->instance, json_string_value(json_object_get(o->ev, "reason")));
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

static int apply_config(struct shell *sh, const struct bus_msg *m, char *err, size_t errlen) {
  char key[512];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  if (!m->value) {
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(sh->ce_bodies, tmp, k, v) {
      const char *arn = json_string_value(json_object_get(v, "computeEnvironmentArn"));
      if (arn && !strcmp(arn, key)) json_object_del(sh->ce_bodies, k);
    }
    prov_handle_config_delete(sh->core, key, m->timestamp_ms, &sh->out);
    return process(sh, err, errlen);
  }
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[512];
  if (bus_decode(m, &t, &ev, why, sizeof why) == 0) {
    json_t *ce = json_object_get(json_object_get(ev, "body"), "ComputeEnvironment");
    if (ce && json_string_value(json_object_get(ce, "computeEnvironmentName")))
      json_object_set(sh->ce_bodies, json_string_value(json_object_get(ce, "computeEnvironmentName")), ce);
    if (prov_handle_config(sh->core, ev, &sh->out, why, sizeof why))
      log_warn("barge.config offset %lld ignored: %s", (long long)m->offset, why);
  } else {
    log_warn("barge.config offset %lld ignored: %s", (long long)m->offset, why);
  }
  json_decref(ev);
  return process(sh, err, errlen);
}

/* Applies barge.config records. until_end: up to the table's end as the broker reports it now
 * (its high watermark), so that a record written just before the event that names it is seen.
 * (A partition-EOF event alone is not enough: one queued before the newest records arrived
 * would end the wait too early.) barge.config has one partition. */
static int drain_config(struct shell *sh, int until_end, char *err, size_t errlen) {
  int64_t lo = 0, hi = -1;
  if (until_end && bus_watermarks(sh->cfg_c, TOPIC_CONFIG, 0, &lo, &hi)) hi = -1;
  if (until_end && hi >= 0 && sh->cfg_next >= hi) return 0;
  int64_t deadline = mono_ms() + 30000;
  for (;;) {
    struct bus_msg m;
    int r = bus_poll(sh->cfg_c, until_end ? 200 : 0, &m, err, errlen);
    if (r < 0) return -1;
    if (r == 2) {
      if (m.offset > sh->cfg_next) sh->cfg_next = m.offset;
      if (!until_end || hi < 0 || m.offset >= hi) return 0;
      continue;
    }
    if (r == 0) {
      if (!until_end) return 0;
      if (mono_ms() > deadline) {
        log_warn("barge.config: not at offset %lld after 30 s (at %lld); going on", (long long)hi, (long long)sh->cfg_next);
        return 0;
      }
      continue;
    }
    sh->cfg_next = m.offset + 1;
    int rc = apply_config(sh, &m, err, errlen);
    bus_msg_release(&m);
    if (rc) return -1;
    if (until_end && hi >= 0 && sh->cfg_next >= hi) return 0;
  }
}

/* ---- rebuild ---- */

static void note_offset(struct shell *sh, const struct bus_msg *m) {
  int np = bus_topic_partitions(m->topic);
  if (!sh->skip[m->topic]) sh->skip[m->topic] = xcalloc((size_t)np, sizeof *sh->skip[m->topic]);
  if (m->partition >= 0 && m->partition < np && m->offset + 1 > sh->skip[m->topic][m->partition])
    sh->skip[m->topic][m->partition] = m->offset + 1;
}

static void restore_instance_cb(void *ctx, const struct bus_msg *m) {
  struct shell *sh = ctx;
  note_offset(sh, m);
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (m->value && !bus_decode(m, &t, &ev, why, sizeof why)) prov_restore_instance(sh->core, ev);
  json_decref(ev);
}

static void restore_demand_cb(void *ctx, const struct bus_msg *m) {
  struct shell *sh = ctx;
  note_offset(sh, m);
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (m->value && !bus_decode(m, &t, &ev, why, sizeof why)) prov_restore_demand(sh->core, ev);
  json_decref(ev);
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
static int handle(struct shell *sh, enum barge_ev_type t, const json_t *ev, char *why, size_t whylen,
                  char *err, size_t errlen) {
  const char *ce = json_string_value(json_object_get(ev, "computeEnvironment"));
  json_t *last = ce ? json_object_get(sh->unknown_ces, ce) : NULL;
  if (ce && !json_object_get(sh->ce_bodies, ce) && (!last || mono_ms() - json_integer_value(last) > 10000)) {
    json_object_set_new(sh->unknown_ces, ce, json_integer(mono_ms()));
    if (drain_config(sh, 1, err, errlen)) return -1;
  }
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
    int bad = bus_decode(&m, &t, &ev, why, sizeof why) ? 1 : 0;
    if (!bad) bad = handle(sh, t, ev, why, sizeof why, err, errlen);
    json_decref(ev);
    if (bad < 0) return -1;
    if (bad && (ensure_txn(sh, err, errlen) || bus_dead_letter(sh->prod, &m, "provisioner", why, err, errlen))) return -1;
    if (process(sh, err, errlen)) return -1;
    free(d->value);
    d->value = NULL;
  }
  sh->npending = 0;
  return 0;
}

/* ---- main ---- */

static double parse_double(const char *s, double def) {
  if (!s) return def;
  char *end;
  double v = strtod(s, &end);
  return *end ? def : v;
}

int prov_service_main(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL, *props = NULL, *catalog_path = NULL;
  const char *txn_id = "barge-provisioner", *driver = "local", *log_dir = NULL;
  const char *time_scale = NULL, *interrupt_rate = NULL, *unobtainable = NULL;
  const char *ec2_endpoint = NULL, *ec2_region = NULL, *ec2_image = NULL, *ec2_agent_brokers = NULL;
  long long tick_ms = 250, window_ms = 1000, idle_delay_ms = 60000, launch_timeout_ms = 600000;
  long long unobtainable_ms = 60000, batch = 2000, max_launch = 20000;
  long long local_max_instances = 16, local_max_vcpus = 0, agent_hb = 5000;
  long long sim_boot = 2000, sim_hb = 5000, sim_job = 1000, sim_notice = 120000, sim_after = -1, sim_count = -1, sim_seed = 1;
  long long ec2_retries = 6, ec2_backoff = 200, ec2_poll = 30000;
  const struct opt opts[] = {
      {"driver", "local|sim|ec2", &driver, NULL, NULL, "driver for compute environments that name none (default local)"},
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
      {"kafka-props", "K=V,...", &props, NULL, NULL, "extra librdkafka properties (TLS, SASL)"},
      {"transactional-id", "ID", &txn_id, NULL, NULL, "transactional id; a second provisioner with the same id fences the first (default barge-provisioner)"},
      {"catalog", "FILE", &catalog_path, NULL, NULL, "instance-type catalogue (default $BARGE_CATALOG, else the built-in one)"},
      {"tick-ms", "MS", NULL, &tick_ms, NULL, "how often time advances in the core (default 250)"},
      {"window-ms", "MS", NULL, &window_ms, NULL, "scale-up decisions batched per CE over this window (default 1000)"},
      {"idle-delay-ms", "MS", NULL, &idle_delay_ms, NULL, "scale-down delay for CEs without minScaleDownDelayMinutes (default 60000)"},
      {"launch-timeout-ms", "MS", NULL, &launch_timeout_ms, NULL, "terminate a launched instance not READY by then (default 600000)"},
      {"unobtainable-ms", "MS", NULL, &unobtainable_ms, NULL, "skip a type whose launch failed this long (default 60000)"},
      {"max-launch", "N", NULL, &max_launch, NULL, "most instances one decision launches (default 20000)"},
      {"batch", "N", NULL, &batch, NULL, "most input events per transaction (default 2000)"},
      {"log-dir", "DIR", &log_dir, NULL, NULL, "local driver: job logs (default $BARGE_HOME/logs; agent logs beside it)"},
      {"local-max-instances", "N", NULL, &local_max_instances, NULL, "local driver: most agents at once (default 16)"},
      {"local-max-vcpus", "N", NULL, &local_max_vcpus, NULL, "local driver: most vCPUs declared by all agents together (default 0, no cap)"},
      {"agent-heartbeat-ms", "MS", NULL, &agent_hb, NULL, "local and ec2 drivers: agents' heartbeat (default 5000)"},
      {"sim-boot-ms", "MS", NULL, &sim_boot, NULL, "sim driver: launch to READY (default 2000)"},
      {"sim-heartbeat-ms", "MS", NULL, &sim_hb, NULL, "sim driver: heartbeat period (default 5000)"},
      {"sim-job-ms", "MS", NULL, &sim_job, NULL, "sim driver: job duration without BARGE_SIM_DURATION_MS (default 1000)"},
      {"sim-notice-ms", "MS", NULL, &sim_notice, NULL, "sim driver: spot interruption notice (default 120000)"},
      {"sim-interrupt-after-ms", "MS", NULL, &sim_after, NULL, "sim driver: interrupt every spot instance this long after READY (default: by rate)"},
      {"sim-interrupt-count", "N", NULL, &sim_count, NULL, "sim driver: at most N interruptions in all (default no limit)"},
      {"sim-interrupt-rate", "R", &interrupt_rate, NULL, NULL, "sim driver: interruptions per spot instance-hour (default: the catalogue's rate)"},
      {"sim-time-scale", "F", &time_scale, NULL, NULL, "sim driver: simulated time runs F times faster (default 1)"},
      {"sim-unobtainable", "TYPES", &unobtainable, NULL, NULL, "sim driver: comma-separated types whose launches fail"},
      {"sim-seed", "N", NULL, &sim_seed, NULL, "sim driver: random seed (default 1)"},
      {"ec2-endpoint", "URL", &ec2_endpoint, NULL, NULL, "ec2 driver: endpoint (default https://ec2.REGION.amazonaws.com)"},
      {"ec2-region", "REGION", &ec2_region, NULL, NULL, "ec2 driver: region (default $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)"},
      {"ec2-image-id", "AMI", &ec2_image, NULL, NULL, "ec2 driver: AMI for CEs that name no imageId or launchTemplate"},
      {"ec2-agent-brokers", "HOST:PORT", &ec2_agent_brokers, NULL, NULL, "ec2 driver: brokers the instances' agents use (default --brokers)"},
      {"ec2-max-retries", "N", NULL, &ec2_retries, NULL, "ec2 driver: retries on throttling (default 6)"},
      {"ec2-backoff-ms", "MS", NULL, &ec2_backoff, NULL, "ec2 driver: first backoff, doubling (default 200)"},
      {"ec2-poll-ms", "MS", NULL, &ec2_poll, NULL, "ec2 driver: how often launched instances are described (default 30000)"},
  };
  int r = opts_parse("provisioner", "--driver local|sim|ec2 [options]", argc, argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if (strcmp(driver, "local") && strcmp(driver, "sim") && strcmp(driver, "ec2")) {
    fprintf(stderr, "barge provisioner: --driver must be local, sim or ec2\n");
    return 2;
  }
  log_set_role("provisioner");
  struct service sv;
  if ((r = service_connect("provisioner", brokers_flag, prefix_flag, props, "barge-provisioner", 1, &sv))) return r;
  const char *brokers = sv.brokers, *prefix = sv.prefix;
  struct bus_conf bc = sv.bc;
  char err[1024], home[3072], logs[4200];
  struct catalog *own_cat = NULL;
  if (catalog_path && catalog_load_file(catalog_path, &own_cat, err, sizeof err)) {
    fprintf(stderr, "barge provisioner: %s\n", err);
    return 2;
  }
  const struct catalog *cat = own_cat ? own_cat : catalog_default();
  stack_home(home, sizeof home);
  if (!log_dir) {
    snprintf(logs, sizeof logs, "%s/logs", home);
    log_dir = logs;
  }
  if (mkdir_p(log_dir)) log_warn("cannot create %s", log_dir);
  struct shell sh;
  memset(&sh, 0, sizeof sh);
  prov_outbox_init(&sh.out);
  sh.ce_bodies = json_object();
  sh.unknown_ces = json_object();
  sh.default_driver = driver;
  char host[64] = "localhost";
  gethostname(host, sizeof host - 1);
  snprintf(sh.source, sizeof sh.source, "provisioner/%s:%d", host, (int)getpid());
  char dsource[160];
  snprintf(dsource, sizeof dsource, "driver/%s:%d", host, (int)getpid());
  driver_conf_defaults(&sh.dconf);
  sh.dconf.bus = bc;
  sh.dconf.bus.client_id = "barge-driver";
  sh.dconf.cat = cat;
  sh.dconf.source = dsource;
  sh.dconf.log_dir = log_dir;
  sh.dconf.agent_log_dir = home;
  sh.dconf.local_max_instances = local_max_instances;
  sh.dconf.local_max_vcpus = local_max_vcpus;
  sh.dconf.agent_heartbeat_ms = agent_hb;
  sh.dconf.sim_boot_ms = sim_boot;
  sh.dconf.sim_heartbeat_ms = sim_hb;
  sh.dconf.sim_job_ms = sim_job;
  sh.dconf.sim_notice_ms = sim_notice;
  sh.dconf.sim_interrupt_after_ms = sim_after;
  sh.dconf.sim_interrupt_count = sim_count;
  sh.dconf.sim_interrupt_rate = parse_double(interrupt_rate, -1);
  sh.dconf.sim_time_scale = parse_double(time_scale, 1.0);
  sh.dconf.sim_unobtainable = unobtainable;
  sh.dconf.sim_seed = (unsigned long long)sim_seed;
  sh.dconf.ec2_endpoint = ec2_endpoint;
  sh.dconf.ec2_region = ec2_region;
  sh.dconf.ec2_image_id = ec2_image;
  sh.dconf.ec2_agent_brokers = ec2_agent_brokers;
  sh.dconf.ec2_max_retries = ec2_retries;
  sh.dconf.ec2_backoff_ms = ec2_backoff;
  sh.dconf.ec2_poll_ms = ec2_poll;
  struct prov_conf pc;
  prov_conf_defaults(&pc);
  pc.cat = cat;
  pc.window_ms = window_ms;
  pc.idle_delay_ms = idle_delay_ms;
  pc.launch_timeout_ms = launch_timeout_ms;
  pc.unobtainable_ms = unobtainable_ms;
  pc.max_launch = (int)max_launch;
  sh.core = prov_new(&pc);
  int rc = 1;
  /* the transactional producer first: it fences an older provisioner before state is read */
  sh.prod = bus_producer_new(&bc, txn_id, err, sizeof err);
  if (!sh.prod) {
    log_error("%s", err);
    goto out;
  }
  sh.cfg_c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  sh.main_c = bus_consumer_new(&bc, "barge-provisioner", 1, err, sizeof err);
  if (!sh.cfg_c || !sh.main_c) {
    log_error("%s", err);
    goto out;
  }
  /* the default driver now: the sim must be reading placements before it launches anything */
  if (!get_driver(&sh, driver, err, sizeof err)) {
    log_error("driver %s: %s", driver, err);
    goto out;
  }
  int64_t t0 = mono_ms();
  enum bus_topic cfg_topic = TOPIC_CONFIG;
  if (bus_assign_all(sh.cfg_c, &cfg_topic, 1, 1, err, sizeof err) || drain_config(&sh, 1, err, sizeof err)) {
    log_error("reading configuration: %s", err);
    goto out;
  }
  struct bus_consumer *tmp = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  if (!tmp || bus_read_table(tmp, TOPIC_INSTANCES, restore_instance_cb, &sh, err, sizeof err) ||
      bus_read_table(tmp, TOPIC_CAPACITY, restore_demand_cb, &sh, err, sizeof err)) {
    log_error("rebuilding state: %s", err);
    bus_consumer_free(tmp);
    goto out;
  }
  bus_consumer_free(tmp);
  prov_restore_done(sh.core, &sh.out);
  if (process(&sh, err, sizeof err)) goto fatal;
  if (sh.in_txn) {
    if (bus_txn_commit(sh.prod, NULL, err, sizeof err)) goto fatal;
    sh.in_txn = 0;
  }
  log_info("state rebuilt in %lld ms", (long long)(mono_ms() - t0));
  enum bus_topic inputs[] = {TOPIC_CAPACITY, TOPIC_INSTANCES};
  if (bus_assign_all(sh.main_c, inputs, 2, 1, err, sizeof err)) {
    log_error("%s", err);
    goto out;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  log_info("provisioner running (driver %s, brokers %s, prefix %s, idle delay %lld ms, window %lld ms)", driver,
           brokers, prefix, idle_delay_ms, window_ms);
  int64_t next_tick = mono_ms();
  while (!stop_flag) {
    if (drain_config(&sh, 0, err, sizeof err)) goto fatal;
    int64_t batch_end = mono_ms() + 50;
    for (long long n = 0; n < batch && !stop_flag;) {
      int64_t left = batch_end - mono_ms();
      struct bus_msg m;
      int pr = bus_poll(sh.main_c, left > 0 ? (int)left : 0, &m, err, sizeof err);
      if (pr < 0) goto fatal;
      if (pr == 0) break;
      if (pr == 2) continue;
      n++;
      if (ensure_txn(&sh, err, sizeof err)) {
        bus_msg_release(&m);
        goto fatal;
      }
      if (covered(&sh, &m) || !m.value) {
        bus_mark(sh.main_c, &m);
        bus_msg_release(&m);
        continue;
      }
      if (m.topic == TOPIC_CAPACITY) { /* handled once per CE at the end of the batch */
        stash_demand(&sh, &m);
        bus_mark(sh.main_c, &m);
        bus_msg_release(&m);
        continue;
      }
      enum barge_ev_type t;
      json_t *ev = NULL;
      char why[512];
      int bad = bus_decode(&m, &t, &ev, why, sizeof why) ? 1 : 0;
      if (!bad) bad = handle(&sh, t, ev, why, sizeof why, err, sizeof err);
      json_decref(ev);
      if (bad < 0) {
        bus_msg_release(&m);
        goto fatal;
      }
      if (bad && bus_dead_letter(sh.prod, &m, "provisioner", why, err, sizeof err)) {
        bus_msg_release(&m);
        goto fatal;
      }
      bus_mark(sh.main_c, &m);
      bus_msg_release(&m);
      if (process(&sh, err, sizeof err)) goto fatal;
    }
    if (flush_demands(&sh, err, sizeof err)) goto fatal;
    if (mono_ms() >= next_tick) {
      next_tick = mono_ms() + tick_ms;
      prov_tick(sh.core, now_ms(), &sh.out);
      if (process(&sh, err, sizeof err)) goto fatal;
    }
    if (sh.in_txn) {
      if (bus_txn_commit(sh.prod, sh.main_c, err, sizeof err)) goto fatal;
      sh.in_txn = 0;
    }
    for (int i = 0; i < NDRIVERS; i++)
      if (sh.drivers[i] && sh.drivers[i]->ops->poll(sh.drivers[i], err, sizeof err)) goto fatal;
  }
  log_info("provisioner stopping (%lld decisions, %lld instances launched, %lld terminated)", sh.decisions,
           sh.launched, sh.terminated);
  rc = 0;
  goto out;
fatal:
  /* the core may hold decisions of an aborted transaction: exit, and the restart rebuilds from
   * the committed state (STYLE.md: fatal errors exit; Kafka replays) */
  log_error("fatal: %s", err);
  rc = 1;
out:
  for (int i = 0; i < NDRIVERS; i++) driver_free(sh.drivers[i]);
  bus_consumer_free(sh.main_c);
  bus_consumer_free(sh.cfg_c);
  bus_producer_free(sh.prod);
  prov_outbox_release(&sh.out);
  prov_free(sh.core);
  json_decref(sh.ce_bodies);
  json_decref(sh.unknown_ces);
  for (int i = 0; i < TOPIC__COUNT; i++) free(sh.skip[i]);
  for (size_t i = 0; i < sh.npending; i++) free(sh.pending[i].value);
  free(sh.pending);
  catalog_free(own_cat);
  return rc;
}
