/* bulk_submit.h: `barge submit-job --from-jsonl FILE|-`, bulk submission of AWS SubmitJob
 * requests, one JSON object per line (docs/publishing.md).
 *
 * Every line is validated against the configuration as `barge submit-job` validates one
 * request (control_prepare_submit), then written to barge.requests by one idempotent producer;
 * lines are confirmed in batches, and a line's job id is printed (stdout: "line<TAB>jobId")
 * only after the delivery report of its batch confirms it is durably written. A dependsOn entry
 * {"jobId": "line:N"} names the job of an earlier line N. Progress goes to stderr: a bar on a
 * terminal, plain lines otherwise; a summary ends the run (submitted, rejected with line numbers
 * and reasons).
 *
 * Exit status: 0 when every line was accepted, 254 when some line was refused (ClientException),
 * 255 when Kafka did not confirm a batch (the rest is not attempted), 252 bad usage or input. */
#ifndef BARGE_BULK_SUBMIT_H
#define BARGE_BULK_SUBMIT_H
#include <stdio.h>

#include "bus.h"
#include "opts.h"

/* `barge submit-job --from-jsonl ...`: parses the options and runs. */
/* Its option table (docs/configuration.md is generated from it). */
extern const struct opts_cmd bulk_opts_cmd;
int bulk_submit_main(int argc, char **argv);

struct bulk_stats {
  long lines, submitted, rejected, unconfirmed, not_attempted;
};
/* Submits every line of in (named `name` in messages; total_lines for the progress bar, -1 when
 * unknown) through bc. Accepted ids go to out, progress and the summary to progress (NULL:
 * silent; tty: redraw a bar). Returns the exit status above and fills st. */
int bulk_submit_run(const struct bus_conf *bc, FILE *in, const char *name, long total_lines,
                    int batch_size, FILE *out, FILE *progress, int tty, struct bulk_stats *st);
#endif
