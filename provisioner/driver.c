/* driver.c: what the drivers share (see driver.h): defaults, the constructor by name, and the
 * InstanceEvent they publish. */
#include "driver.h"

#include <string.h>
#include <unistd.h>

void driver_conf_defaults(struct driver_conf *c) {
  /* every member not named here is zero */
  *c = (struct driver_conf){
      .agent_bin = "/proc/self/exe",
      .local_max_instances = 16,
      .agent_heartbeat_ms = 5000,
      .sim_boot_ms = 2000,
      .sim_heartbeat_ms = 5000,
      .sim_job_ms = 1000,
      .sim_notice_ms = 120000,
      .sim_interrupt_after_ms = -1, /* by rate */
      .sim_interrupt_count = -1,    /* no limit */
      .sim_interrupt_rate = -1,     /* the catalogue's */
      .sim_time_scale = 1.0,
      .sim_seed = 1,
      .ec2_max_retries = 6,
      .ec2_backoff_ms = 200,
      .ec2_poll_ms = 30000,
  };
  driver_machine_size(&c->local_max_vcpus, &c->local_max_memory);
  c->local_max_vcpus *= 4;
  c->local_max_memory = c->local_max_memory * 3 / 4;
}

void driver_machine_size(long long *cores, long long *mem_mib) {
  long n = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
  *cores = n > 0 ? n : 1;
  *mem_mib = pages > 0 && psize > 0 ? (long long)pages * psize / (1024 * 1024) : 1024;
}

struct driver *driver_new(const char *name, const struct driver_conf *conf, char *err, size_t errlen) {
  if (!strcmp(name, "local")) return driver_local_new(conf, err, errlen);
  if (!strcmp(name, "sim")) return driver_sim_new(conf, err, errlen);
  if (!strcmp(name, "ec2")) return driver_ec2_new(conf, err, errlen);
  snprintf(err, errlen, "unknown driver '%s' (local, sim or ec2)", name);
  return NULL;
}

void driver_free(struct driver *d) {
  if (!d) return;
  d->ops->free(d);
  free(d);
}

struct driver *driver_alloc(const struct driver_ops *ops, const struct driver_conf *conf,
                            void *impl) {
  struct driver *d = xcalloc(1, sizeof *d);
  d->ops = ops;
  d->conf = *conf;
  d->impl = impl;
  return d;
}

void driver_producer_close(const struct driver *d, struct bus_producer *p) {
  char err[256];
  if (p && bus_flush(p, 10000, err, sizeof err)) log_warn("%s: %s", d->ops->name, err);
  bus_producer_free(p);
}

json_t *driver_instance_event(const struct driver *d, const char *id, const char *ce,
                              const char *kind, const struct catalog_type *t, int sched_mem,
                              int spot, const char *reason) {
  int64_t now = now_ms();
  json_t *e = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:f, s:s, s:I}", "header",
                        bus_header(d->conf.source, "", now), "instanceId", id, "computeEnvironment", ce,
                        "kind", kind, "instanceType", t ? t->name : "", "vcpus", t ? t->vcpus : 0,
                        "memoryMib", sched_mem, "gpus", t ? t->gpus : 0, "lifecycle",
                        spot ? "SPOT" : "ON_DEMAND", "pricePerHour",
                        t ? (spot ? t->spot_price : t->od_price) : 0.0, "driver", d->ops->name, "at",
                        (json_int_t)now);
  if (reason) json_object_set_new(e, "reason", json_string(reason));
  return e;
}
