/* writer.h: `barge api`'s write path (docs/api.md "The write path"): one long-lived idempotent
 * producer (acks=all) shared by every server thread, and a thread serving its delivery reports.
 * A request queues its record and waits for that record's own delivery report, so each answer
 * still means "durably written", while the records of many requests in flight share the
 * producer's batches (linger.ms) and broker round trips. No lock is held while waiting. */
#ifndef BARGE_API_WRITER_H
#define BARGE_API_WRITER_H
#include "control.h"

struct api_writer;
/* NULL with the reason in err. bc is borrowed and must outlive the writer. */
struct api_writer *api_writer_new(const struct bus_conf *bc, char *err, size_t errlen);
/* Waits for the records in flight, then stops. */
void api_writer_free(struct api_writer *w);
/* The sink control_write_out publishes through (control.h). */
struct control_sink api_writer_sink(struct api_writer *w);
#endif
