/* control.h: the AWS Batch write operations (Create*, Update*, Delete*, Register*,
 * Deregister*, SubmitJob, CancelJob, TerminateJob) as validated, durably written Kafka
 * events. Used by the CLI and by anything else that accepts AWS Batch requests. */
#ifndef BARGE_CONTROL_H
#define BARGE_CONTROL_H
#include <jansson.h>

#include "bus.h"
#include "views.h"

/* Runs one write operation given its API name ("SubmitJob") and AWS request JSON. Returns 0
 * with *resp (owned) the AWS response; 400 for a ClientException or 500 for a
 * ServerException with the message in err; -1 when api is not a write operation. */
int control_call(const struct bus_conf *bc, const char *api, const json_t *req, json_t **resp,
                 char *err, size_t errlen);

/* Validates a SubmitJob request against cv and builds the JobRequest body with a new job id
 * (*body owned). 0, or 400 with the reason. */
int control_prepare_submit(const struct config_view *cv, const json_t *req, json_t **body,
                           char *err, size_t errlen);
/* A JobRequest event around body (@owned): header, principal, body {kind: body}. */
json_t *control_request_event(const char *kind, json_t *body);
#endif
