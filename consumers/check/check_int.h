/* check_int.h: the checker's history, shared by check.c (building it from events) and
 * check_rules.c / check_acct.c (the invariants). Pure. */
#ifndef BARGE_CHECK_INT_H
#define BARGE_CHECK_INT_H
#include <stdint.h>

#include "check_core.h"
#include "strmap.h"

enum { ST_SUBMITTED, ST_PENDING, ST_RUNNABLE, ST_STARTING, ST_RUNNING, ST_SUCCEEDED, ST_FAILED, ST__COUNT };
extern const char *const check_status_names[ST__COUNT];
#define NONE UINT32_MAX
#define NEVER INT64_MAX

/* one JobStateChange */
struct cev {
  int8_t old_st, new_st;
  uint8_t lost; /* the reason is the lost-host one */
  int32_t attempt;
  int64_t at;
  uint32_t inst; /* instance index or NONE */
  int32_t vcpus, mem_mib;
};

enum { EX_STARTED, EX_END };
/* one ExecutionReport */
struct cexec {
  int32_t attempt;
  int8_t kind;
  int64_t at;
  uint32_t inst;
  int64_t incarnation;
};

struct cplace {
  int32_t attempt;
  uint32_t inst;
};

struct cjob {
  char *id;
  uint32_t parent;   /* NONE, or the array parent */
  int32_t index;     /* array child's index */
  int32_t size;      /* array parent's size (0: not an array) */
  uint32_t mnp;      /* NONE, or the multi-node parent of a node "<parent>#<n>" (docs/job-model.md §11) */
  int32_t nodes;     /* a multi-node parent: how many of its nodes the log names */
  int submitted;
  json_t *depends_on; /* SubmitJob.dependsOn (owned), or NULL */
  struct cev *ev;
  size_t nev, cev_cap;
  struct cexec *ex;
  size_t nex, ex_cap;
  struct cplace *pl;
  size_t npl, pl_cap;
  int rec_status;    /* the latest JobRecord's status, -1 none */
  json_t *rec_summary; /* the latest JobRecord's arrayProperties.statusSummary (owned) */
};

struct cinst_ev {
  int64_t at;
  int8_t up; /* 1 up, -1 ended, 0 neither */
};

struct cinst {
  char *id;
  char *ce;
  int32_t vcpus, mem_mib;
  int64_t incarnation; /* its agent's latest incarnation (lib/states.h instance_incarnation_fold) */
  struct cinst_ev *ev;
  size_t nev, cap;
};

struct check {
  struct check_conf conf;
  struct cjob **jobs;
  size_t njobs, jobs_cap;
  struct strmap job_ix;
  struct cinst **insts;
  size_t ninsts, insts_cap;
  struct strmap inst_ix;
  json_t *usage;       /* key -> the latest UsageRecord */
  json_t *violations;  /* array */
  long long counts[CHECK__COUNT];
  long long read[BARGE_EV__COUNT];
  long long requests_read, placements_read;
};

uint32_t check_job_find(const struct check *c, const char *id);
int check_status_code(const char *name); /* -1 when unknown */

/* check_rules.c */
void check_rules_jobs(struct check *c, json_t *live);
void check_rules_capacity(struct check *c);
/* check_acct.c */
void check_rules_accounting(struct check *c);
#endif
