/* driver.h: the provisioning drivers behind one interface (docs/provisioner.md "Drivers"). The decision
 * core says what to launch, drain and terminate; a driver does it and reports what happens to
 * its instances through barge.instances:
 *
 *   local  each instance is a `barge agent` child process of the provisioner with the type's
 *          capacity; jobs really run. The agent registers (READY), heartbeats and reports
 *          TERMINATED itself when stopped.
 *   sim    simulated instances inside the provisioner process: a boot delay, READY and
 *          HEARTBEATs, placements consumed from barge.placements and reported as STARTED then
 *          EXITED after the job's BARGE_SIM_DURATION_MS (exit code BARGE_SIM_EXIT_CODE), spot
 *          interruptions (INTERRUPTION_NOTICE, then TERMINATED after the notice period).
 *   ec2    the EC2 Query API over libcurl, SigV4-signed with OpenSSL: RunInstances,
 *          TerminateInstances, DescribeInstances; user data that starts `barge agent`; retries
 *          with exponential backoff on throttling.
 *
 * Every call is made from the provisioner's one thread; a driver is not thread-safe. Calls
 * return 0 or non-zero with the reason in err (launch: *n says how many did start). */
#ifndef BARGE_DRIVER_H
#define BARGE_DRIVER_H
#include <jansson.h>
#include <stdint.h>

#include "bus.h"
#include "catalog.h"

struct driver_conf {
  struct bus_conf bus;       /* where drivers publish instance events (and agents connect) */
  const struct catalog *cat;
  const char *source;        /* header source of driver-published events */
  /* local */
  const char *agent_bin;     /* the barge binary (default /proc/self/exe) */
  const char *log_dir;       /* job logs of local agents */
  const char *agent_log_dir; /* local agents' own logs (agent-<id>.log) */
  long long local_max_instances; /* most local agents alive at once (default 16) */
  long long local_max_vcpus;     /* most vCPUs declared by local agents together (0 = no cap;
                                    default this machine's cores x 4) */
  long long local_max_memory;    /* most MiB declared by local agents together (0 = no cap;
                                    default 75% of this machine's memory) */
  long long agent_heartbeat_ms;  /* agents' heartbeat period (default 5000) */
  long long agent_fence_ms;      /* agents' --fence-after-ms (0: not passed, the agent's default) */
  const char *agent_runtime;     /* agents' --runtime (NULL: local process, ec2 auto) */
  double agent_log_retention_h;  /* agents' --log-retention-hours (0: not passed, logs kept) */
  const char *agent_metrics_host; /* local: each agent serves metrics on a free port of this
                                     host (NULL: none); listed in <agent_log_dir>/local-agents */
  const char *agent_kafka_props; /* local agents' --kafka-props (NULL: bus.kafka_props) */
  /* sim */
  long long sim_boot_ms;        /* launch to READY (default 2000, before scaling) */
  long long sim_heartbeat_ms;   /* default 5000 */
  long long sim_job_ms;         /* a job's duration without BARGE_SIM_DURATION_MS (default 1000) */
  long long sim_notice_ms;      /* spot interruption notice period (default 120000) */
  long long sim_interrupt_after_ms; /* >= 0: every spot instance gets a notice this long after READY */
  long long sim_interrupt_count;    /* >= 0: at most this many interruptions in total */
  double sim_interrupt_rate;    /* interruptions per spot instance-hour; < 0: the catalogue's rate */
  double sim_time_scale;        /* simulated time runs this much faster (default 1) */
  const char *sim_unobtainable; /* comma-separated types whose launches fail */
  unsigned long long sim_seed;
  /* ec2 */
  const char *ec2_endpoint;     /* default https://ec2.<region>.amazonaws.com */
  const char *ec2_region;       /* default $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1 */
  const char *ec2_access_key, *ec2_secret_key, *ec2_session_token; /* default from $AWS_* */
  const char *ec2_image_id;     /* default AMI when the CE names none */
  const char *ec2_agent_brokers;/* brokers written into user data (default: bus.brokers) */
  const char *ec2_agent_kafka_props; /* the agents' --kafka-props in user data ("@PATH": read from
                                        PATH on the instance; NULL: none) */
  long long ec2_agent_log_port;       /* the agents serve their logs on this port (0: they do not) */
  const char *ec2_agent_log_token;    /* path on the instance of the log server's secret */
  const char *ec2_agent_log_tls_cert, *ec2_agent_log_tls_key; /* paths on the instance: HTTPS (NULL: HTTP) */
  long long ec2_max_retries;    /* throttling retries (default 6) */
  long long ec2_backoff_ms;     /* first backoff (default 200), doubling */
  long long ec2_poll_ms;        /* how often launched instances are described (default 30000) */
};
void driver_conf_defaults(struct driver_conf *c);
/* This machine's online cores and physical memory in MiB (the local driver's default caps). */
void driver_machine_size(long long *cores, long long *mem_mib);

struct driver_launch {
  const char *ce;
  const struct catalog_type *type;
  int sched_mem_mib; /* memory the agent declares (catalogue memory minus the reserve) */
  int count;
  int spot;
  double max_price;      /* SPOT price ceiling per hour; 0 = none */
  const json_t *ce_body; /* the ComputeEnvironment record (tags, passthroughJson) or NULL */
};

enum driver_state { DRV_UNKNOWN, DRV_PENDING, DRV_RUNNING, DRV_GONE };

/* An instance a driver reports it has (list). */
struct driver_instance {
  char id[32];
  char ce[256];
  const struct catalog_type *type;
  int spot;
};

struct driver;
struct driver_ops {
  const char *name;
  /* 1: the driver (or its agent) publishes TERMINATED itself; else the shell does */
  int reports_terminated;
  int (*launch)(struct driver *d, const struct driver_launch *req, char (*ids)[32], int *n,
                char *err, size_t errlen);
  int (*drain)(struct driver *d, const char *id, char *err, size_t errlen);
  int (*terminate)(struct driver *d, const char *id, char *err, size_t errlen);
  int (*describe)(struct driver *d, const char *const *ids, size_t n, enum driver_state *states,
                  char *err, size_t errlen);
  /* Optional (NULL: nothing to do): an instance of type t this driver launched before the
   * provisioner restarted, known again from barge.instances; watched as if just launched. */
  void (*watch)(struct driver *d, const char *id, const char *ce, const struct catalog_type *t, int spot);
  /* Optional (NULL: its instances end with the provisioner): the live instances this driver's
   * deployment has at the provider, *out malloc'd. 0, or non-zero with the reason in err. */
  int (*list)(struct driver *d, struct driver_instance **out, size_t *n, char *err, size_t errlen);
  /* Advances the driver (timers, child processes, periodic checks). Non-zero is fatal. */
  int (*poll)(struct driver *d, char *err, size_t errlen);
  /* Releases d->impl (driver_free then frees d itself). */
  void (*free)(struct driver *d);
};

struct driver {
  const struct driver_ops *ops;
  struct driver_conf conf;
  void *impl;
  char limits[256]; /* what caps this driver's capacity, in words ("" = nothing said) */
};

/* Constructors; NULL with err on failure. conf is copied (its strings stay borrowed). */
struct driver *driver_local_new(const struct driver_conf *conf, char *err, size_t errlen);
struct driver *driver_sim_new(const struct driver_conf *conf, char *err, size_t errlen);
struct driver *driver_ec2_new(const struct driver_conf *conf, char *err, size_t errlen);
/* By name ("local", "sim", "ec2"). */
struct driver *driver_new(const char *name, const struct driver_conf *conf, char *err, size_t errlen);
void driver_free(struct driver *d);
/* For the drivers themselves: a driver of ops with a copy of conf and impl (which ops->free
 * releases); and their producer flushed (up to 10 s, a failure logged) and freed (NULL is
 * fine). */
struct driver *driver_alloc(const struct driver_ops *ops, const struct driver_conf *conf,
                            void *impl);
void driver_producer_close(const struct driver *d, struct bus_producer *p);

/* An InstanceEvent (with a header) for drivers to publish. */
json_t *driver_instance_event(const struct driver *d, const char *id, const char *ce,
                              const char *kind, const struct catalog_type *t, int sched_mem,
                              int spot, const char *reason);

/* The user data script that starts `barge agent` on an EC2 instance (for tests and docs). */
/* The ec2 driver's agent settings (--ec2-agent-log-port needs a token file): 0, or -1 with the
 * reason in err. driver_ec2_new checks them too. */
int driver_ec2_check_conf(const struct driver_conf *conf, char *err, size_t errlen);
char *driver_ec2_user_data(const struct driver_conf *conf, const struct driver_launch *req);

/* Throttling retries the ec2 driver has made so far (tests). */
long long driver_ec2_retries(const struct driver *d);
/* Instances the ec2 driver launched and still watches (tests). */
size_t driver_ec2_tracked(const struct driver *d);

#endif
