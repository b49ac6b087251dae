/* sched_shell.h: `barge scheduler`, the Kafka shell around the core. */
#ifndef BARGE_SCHED_SHELL_H
#define BARGE_SCHED_SHELL_H
#include "opts.h"

extern const struct opts_cmd sched_opts_cmd; /* its options (--help, docs/configuration.md) */
int sched_service_main(int argc, char **argv);

/* The rebuild's fast path (sched_shell_restore.c). The projection of a JobRecord it reads, or
 * NULL with the reason in err (free with codec_pick_free). */
struct codec_pick;
struct sched;
struct codec_pick *sched_restore_pick(char *err, size_t errlen);
/* One barge.jobs record (framed bytes) at the rebuild: 0 when it was a queued array child, kept
 * small by sched_restore_lite; 1 otherwise (the caller decodes it whole for sched_restore_job). */
int sched_restore_bytes(struct sched *s, const struct codec_pick *p, const void *data, size_t len);
#endif
