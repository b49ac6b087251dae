/* agent_main.h: `barge agent`, one instance's job runner on Kafka. */
#ifndef BARGE_AGENT_MAIN_H
#define BARGE_AGENT_MAIN_H
#include "opts.h"

extern const struct opts_cmd agent_opts_cmd; /* its options (--help, docs/configuration.md) */
int agent_service_main(int argc, char **argv);
#endif
