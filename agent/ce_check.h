/* ce_check.h: does the compute environment an agent joins exist?
 *
 * The scheduler dead-letters the InstanceEvents of an agent whose compute environment it does
 * not know, so such an agent said "ready" and was never given a job. ce_check reads barge.config
 * with a consumer of its own, a few records per turn of the agent's loop (never blocking it), and
 * once it has reached the table's end says in the log whether the CE is there: an error naming
 * what to do when it is not, then, when one is created later (`barge up` creates its CE just
 * before its agents start; an operator may create it after), that it exists now. Once found it
 * stops reading and frees its consumer. Loop thread only. */
#ifndef BARGE_CE_CHECK_H
#define BARGE_CE_CHECK_H
#include "bus.h"

struct ce_check;

/* Starts reading barge.config for compute environment ce (a name or an ARN; borrowed, must
 * outlive the check). NULL with err when it cannot (the agent runs on without the check). */
struct ce_check *ce_check_new(const struct bus_conf *bc, const char *ce, char *err, size_t errlen);
/* Handles the records fetched (at most a few hundred), without waiting. 1 once the CE was found,
 * 0 while not known, -1 once the whole table was read without it (said in the log once). */
int ce_check_step(struct ce_check *k);
void ce_check_free(struct ce_check *k);

/* The table ce_check keeps, for the tests: names maps each compute environment's key (its ARN)
 * to its name (null without one). ce_check_apply applies one barge.config record to it (a
 * tombstone removes the key; a record whose key cannot be a CE's ARN is skipped undecoded, an
 * undecodable one too); ce_check_names_have says whether it holds ce, a name or an ARN (in
 * either partition, as config_find). */
void ce_check_apply(json_t *names, const struct bus_msg *m);
int ce_check_names_have(json_t *names, const char *ce);
#endif
