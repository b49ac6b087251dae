/* ce_check.c: does the agent's compute environment exist? (ce_check.h) */
#include <stdlib.h>
#include <string.h>

#include "ce_check.h"
#include "util.h"
#include "views.h"

/* Records handled per step: decoding one costs microseconds, so a step stays well under a
 * millisecond of the loop's time however large barge.config is. */
#define CE_CHECK_BATCH 256

struct ce_check {
  struct bus_consumer *c;
  const char *ce;
  json_t *ces;    /* key (ARN) -> the CE's name (a string; null without one), as read so far */
  int parts;      /* partitions of barge.config */
  char *at_end;   /* per partition: its end reached, nothing read since */
  int state;      /* what ce_check_step returns */
};

struct ce_check *ce_check_new(const struct bus_conf *bc, const char *ce, char *err, size_t errlen) {
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c) return NULL;
  enum bus_topic t = TOPIC_CONFIG;
  int parts = bus_partition_count(c, t, err, errlen);
  if (parts <= 0 || bus_assign_all(c, &t, 1, 1, err, errlen)) {
    if (parts == 0) snprintf(err, errlen, "%s has no partitions", bus_topic_base(t));
    bus_consumer_free(c);
    return NULL;
  }
  struct ce_check *k = xcalloc(1, sizeof *k);
  k->c = c;
  k->ce = ce;
  k->ces = json_object();
  k->parts = parts;
  k->at_end = xcalloc((size_t)parts, 1);
  return k;
}

/* Whether a barge.config key can be a compute environment's. The table is keyed by each
 * resource's ARN (bus_decode refuses a record under another key, docs/architecture.md "Topics"),
 * and a CE's is arn:PARTITION:batch:REGION:ACCOUNT:compute-environment/NAME (ctl_arn), where a
 * queue's is ...:job-queue/NAME, a job definition's ...:job-definition/NAME:REVISION and a
 * scheduling policy's ...:scheduling-policy/NAME: those are skipped without being decoded (most
 * of the table, one record per job definition revision). */
static int ce_key(const char *key) { return strstr(key, ":compute-environment/") != NULL; }

void ce_check_apply(json_t *names, const struct bus_msg *m) {
  char key[1024];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  if (!ce_key(key)) return;
  enum barge_ev_type et;
  json_t *ev = NULL, *ce;
  char why[256];
  if (!m->value) {
    json_object_del(names, key);
  } else if (!bus_decode(m, &et, &ev, why, sizeof why)) {
    /* its name only: the whole body (a managed CE's compute resources, tags) is not needed */
    if ((ce = json_object_get(json_object_get(ev, "body"), "ComputeEnvironment"))) {
      const char *name = json_string_value(json_object_get(ce, "computeEnvironmentName"));
      json_object_set_new(names, key, name ? json_string(name) : json_null());
    }
    json_decref(ev);
  }
}

int ce_check_names_have(json_t *names, const char *ce) {
  if (!ce) return 0;
  const char *key;
  json_t *v;
  /* as config_find: the key, the same ARN in either partition (barge_arn_same), or the name */
  json_object_foreach(names, key, v) {
    const char *name = json_string_value(v);
    if (barge_arn_same(key, ce) || (name && !strcmp(name, ce))) return 1;
  }
  return 0;
}

int ce_check_step(struct ce_check *k) {
  if (k->state == 1) return 1;
  int emptied = 0;
  for (int n = 0; n < CE_CHECK_BATCH; n++) {
    struct bus_msg m;
    char err[512];
    int pr = bus_poll(k->c, 0, &m, err, sizeof err);
    if (pr < 0) { /* the agent runs on without the check: it is advice, not a condition to run */
      log_warn("reading %s to check compute environment %s: %s", bus_topic_base(TOPIC_CONFIG), k->ce, err);
      k->state = 1;
      return 1;
    }
    if (pr == 0) {
      emptied = 1;
      break;
    }
    if (m.partition >= 0 && m.partition < k->parts) k->at_end[m.partition] = pr == 2;
    if (pr == 1) {
      ce_check_apply(k->ces, &m);
      bus_msg_release(&m);
    }
  }
  if (!emptied) return k->state;
  for (int p = 0; p < k->parts; p++)
    if (!k->at_end[p]) return k->state;
  /* the whole table read (as of now) */
  if (ce_check_names_have(k->ces, k->ce)) {
    if (k->state < 0)
      log_info("compute environment %s exists now: the scheduler takes this instance at its next heartbeat", k->ce);
    k->state = 1;
  } else if (k->state == 0) {
    log_error("compute environment %s does not exist: the scheduler ignores this instance and places no job on it. "
              "Create it (barge create-compute-environment --compute-environment-name %s --type UNMANAGED) or "
              "start the agent with the --compute-environment of one that exists (barge "
              "describe-compute-environments); this agent keeps checking and joins once it exists",
              k->ce, k->ce);
    k->state = -1;
  }
  return k->state;
}

void ce_check_free(struct ce_check *k) {
  if (!k) return;
  bus_consumer_free(k->c);
  json_decref(k->ces);
  free(k->at_end);
  free(k);
}
