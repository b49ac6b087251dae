/* acct_shell.h: the I/O around the accounting core (acct.h): the `barge accounting` service
 * (consumes barge.job-events, barge.instances and barge.config, writes barge.usage) and the
 * `barge usage` report. Both return the process exit status. */
#ifndef BARGE_ACCT_SHELL_H
#define BARGE_ACCT_SHELL_H
#include <jansson.h>
#include <stdint.h>

#include "opts.h"

/* Their options (--help, docs/configuration.md). */
extern const struct opts_cmd acct_opts_cmd, usage_opts_cmd;

int acct_service_main(int argc, char **argv);
int acct_usage_main(int argc, char **argv);

/* The report `barge usage --format json` prints, as a JSON object (*out, new reference), read
 * through bc: by "queue", "share", "ce" or "job"; source "events" (recomputed, exact for the
 * window [since, until); since INT64_MIN: from the beginning) or "usage" (barge.usage's running
 * totals). The dashboard's usage page (producers/api/dash_usage.c) shows it. 0, or -1 with err. */
struct bus_conf;
int acct_usage_report(const struct bus_conf *bc, const char *by, const char *source, int64_t since, int64_t until,
                      json_t **out, char *err, size_t errlen);

#endif
