/* sched_shell.h: `barge scheduler`, the Kafka shell around the core. */
#ifndef BARGE_SCHED_SHELL_H
#define BARGE_SCHED_SHELL_H
#include "opts.h"

extern const struct opts_cmd sched_opts_cmd; /* its options (--help, docs/configuration.md) */
int sched_service_main(int argc, char **argv);
#endif
