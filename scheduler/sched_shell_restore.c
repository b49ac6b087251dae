/* sched_shell_restore.c: the shell's side of the rebuild's fast path. At start-up the scheduler
 * reads back every record of barge.jobs; nearly all of them, with a million jobs queued, are
 * queued array children, of which the core needs a dozen scalars (struct sched_lite). Those are
 * read through a codec projection (codec_pick_decode: no tree, nothing allocated) and kept by the
 * core as a small struct; any other record is decoded whole, as before (docs/architecture.md,
 * "Scheduler restart"). */
#include <string.h>

#include "codec.h"
#include "sched_core.h"
#include "sched_shell.h"

/* The fields of a JobRecord the rebuild reads of a queued array child (struct sched_lite). */
enum {
  RF_ID, RF_QUEUE, RF_STATUS, RF_REASON, RF_CREATED, RF_STARTED, RF_STOPPED, RF_CANCELLED, RF_TERMINATED,
  RF_ATTEMPTS, RF_INDEX, RF_NODE_PROPS, RF_NODE_DETAILS, RF_ATTEMPT, RF_INSTANCE, RF_LOG, RF_SEQ,
  RF_PENDING, RF_PENDING_REASON, RF_PARENT, RF_DEPS, RF__COUNT
};
static const char *const rf_paths[RF__COUNT] = {
    "detail.jobId", "detail.jobQueue", "detail.status", "detail.statusReason", "detail.createdAt",
    "detail.startedAt", "detail.stoppedAt", "detail.isCancelled", "detail.isTerminated", "detail.attempts",
    "detail.arrayProperties.index", "detail.nodeProperties", "detail.nodeDetails", "attempt", "instanceId",
    "logPath", "queueSeq", "pendingStop", "pendingStopReason", "parentJobId", "dependencyIds"};

/* A span as a C string in buf; 0 when it does not fit. */
static int span_str(const struct codec_field *f, char *buf, size_t n) {
  if (f->kind != CF_STRING || f->n >= n) return 0;
  memcpy(buf, f->s, f->n);
  buf[f->n] = 0;
  return 1;
}

struct codec_pick *sched_restore_pick(char *err, size_t errlen) {
  return codec_pick_new(BARGE_EV_JOB_RECORD, rf_paths, RF__COUNT, err, errlen);
}

int sched_restore_bytes(struct sched *s, const struct codec_pick *p, const void *data, size_t len) {
  struct codec_field f[RF__COUNT];
  char why[256], id[64], queue[512], status[32], reason[1024];
  if (codec_pick_decode(p, data, len, f, why, sizeof why)) return 1;
  static const int absent[] = {RF_NODE_PROPS, RF_NODE_DETAILS, RF_INSTANCE, RF_LOG, RF_PENDING, RF_PENDING_REASON};
  if (f[RF_ATTEMPTS].i || f[RF_DEPS].i) return 1;
  for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
    if (f[absent[i]].kind != CF_NULL) return 1;
  if (f[RF_PARENT].kind != CF_STRING || f[RF_INDEX].kind != CF_INT || !span_str(&f[RF_ID], id, sizeof id) ||
      !span_str(&f[RF_QUEUE], queue, sizeof queue) || !span_str(&f[RF_STATUS], status, sizeof status) ||
      (f[RF_REASON].kind != CF_NULL && !span_str(&f[RF_REASON], reason, sizeof reason)))
    return 1;
  struct sched_lite l = {.id = id, .queue = queue, .status = status,
                         .status_reason = f[RF_REASON].kind == CF_NULL ? NULL : reason,
                         .created_at = f[RF_CREATED].i, .started_at = f[RF_STARTED].i, .stopped_at = f[RF_STOPPED].i,
                         .queue_seq = f[RF_SEQ].i, .cancelled = (int)f[RF_CANCELLED].i,
                         .terminated = (int)f[RF_TERMINATED].i, .attempt = (int)f[RF_ATTEMPT].i,
                         .index = (int)f[RF_INDEX].i};
  return sched_restore_lite(s, &l);
}

