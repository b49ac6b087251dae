/* prov_shell.h: `barge provisioner`, the Kafka shell around the decision core (prov_shell.c). */
#ifndef BARGE_PROV_SHELL_H
#define BARGE_PROV_SHELL_H
#include "opts.h"

extern const struct opts_cmd prov_opts_cmd; /* its options (--help, docs/configuration.md) */
#include "opts.h"

extern const struct opts_cmd prov_opts_cmd; /* its options (--help, docs/configuration.md) */
int prov_service_main(int argc, char **argv);
#endif
