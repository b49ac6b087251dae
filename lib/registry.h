/* registry.h: a Confluent-compatible Schema Registry client over libcurl (docs/architecture.md "Events and schemas";
 * docs/publishing.md). Tested against Apicurio Registry's ccompat API (/apis/ccompat/v7).
 *
 * - registry_register: POST /subjects/{subject}/versions {"schema": ..., "schemaType": "AVRO"},
 *   the id answered is cached per (subject, schema);
 * - registry_fetch: GET /schemas/ids/{id}, cached per id;
 * - registry_latest: GET /subjects/{subject}/versions/latest (not cached: it changes).
 *
 * Barge's use: a bus_conf names the registry of its producers and consumers (conf->registry: a
 * client library handle has its own, docs/publishing.md), or, when it names none, they use the
 * process's (registry_set_url, else the environment variable BARGE_SCHEMA_REGISTRY_URL; a
 * service's, one per process). The bus calls registry_attach for every producer and consumer
 * it creates. For a producer it registers every topic's schema under its TopicNameStrategy
 * subject "<prefix><topic>-value" (e.g. barge.requests-value) once per registry and prefix and
 * sets the registry's codec ids (registry_ids; the process's registry sets the codec's process
 * table too), so events are written with the Confluent framing (00, 4-byte big-endian id, Avro
 * body). Decoding with a registry's ids, a Confluent id it did not register is fetched from it,
 * its schema's Parsing Canonical Form compared with the embedded schemas', and the matching
 * event type cached in that registry: ids are per registry, as are its caches.
 * A writer schema that differs from this build's schema is refused (no schema resolution).
 *
 * Errors: registry answers 4xx are invalid data (err carries the registry's message and
 * error_code); connection failures and 5xx are retried 3 times with backoff, then returned.
 * Threads: every function may be called from any thread (one mutex guards the caches; each
 * HTTP call uses its own curl handle). */
#ifndef BARGE_REGISTRY_H
#define BARGE_REGISTRY_H
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "util.h"

struct codec_ids;

/* The process-wide registry URL: url (copied), or NULL to fall back to
 * $BARGE_SCHEMA_REGISTRY_URL; "" disables the registry. Call before creating producers. */
void registry_set_url(const char *url);
/* The configured URL, or NULL when none (the default: single-object encoding). */
const char *registry_url(void);

struct registry;
/* A client for one registry base URL (e.g. http://127.0.0.1:8080/apis/ccompat/v7), with its own
 * caches and codec ids; NULL or "" makes one that is no registry (single-object encoding, no
 * Confluent id resolved). Creation does no I/O. registry_free after every producer and consumer
 * using it is freed. */
struct registry *registry_new(const char *url);
void registry_free(struct registry *r);
/* Its codec ids, for codec_encode_ids / codec_decode_ids. */
const struct codec_ids *registry_ids(const struct registry *r);
/* Registers schema_json under subject; *id_out gets the registry's id (an existing identical
 * schema gets its existing id). 0, or -1 with the reason in err. */
int registry_register(struct registry *r, const char *subject, const char *schema_json,
                      int32_t *id_out, char *err, size_t errlen) BARGE_WUR;
/* The schema text of id, new string in *schema_out (caller frees). 0, or -1 (err); -2 (err)
 * when the registry did not answer, or answered 5xx, 408 or 429, after three tries, or answered
 * 401 or 403 (credentials): worth asking again, and
 * for the next 10 s every fetch of an id not cached fails so at once, without asking. */
int registry_fetch(struct registry *r, int32_t id, char **schema_out, char *err,
                   size_t errlen) BARGE_WUR;
/* The latest version under subject: its id and (when schema_out is not NULL) its text. */
int registry_latest(struct registry *r, const char *subject, int32_t *id_out, char **schema_out,
                    char *err, size_t errlen) BARGE_WUR;

/* The Avro Parsing Canonical Form of a schema given as JSON text (full names, only the
 * attributes that matter for parsing, in the specification's order, no whitespace), appended to
 * out. Used to recognise a fetched schema as one of Barge's. 0, or -1 (err). */
int registry_canonical_form(const char *schema_json, struct buf *out, char *err,
                            size_t errlen) BARGE_WUR;
/* The Barge event type whose embedded schema has the same canonical form, or -1. */
int registry_type_of_schema(const char *schema_json);

/* Barge integration (called by bus_producer_new / bus_consumer_new): with conf->registry,
 * registry_use of it; else, when registry_url() is set, registry_use of the process's registry,
 * whose ids and resolver then are the codec's process table too. 0, or -1 (err); -1 too when
 * registry_url() is not the registry the process attached first (one registry per process). */
int registry_attach(const struct bus_conf *conf, int producer, char *err,
                    size_t errlen) BARGE_WUR;
/* producer 1: registers every topic's schema under conf's prefix in r (once per registry and
 * prefix) and sets r's codec ids. Nothing for a consumer (r's resolver fetches ids on demand) or
 * for no registry. 0, or -1 (err). */
int registry_use(struct registry *r, const struct bus_conf *conf, int producer, char *err,
                 size_t errlen) BARGE_WUR;
/* The TopicNameStrategy subject of a topic under conf's prefix ("barge.requests-value"). */
void registry_subject(const struct bus_conf *conf, enum bus_topic t, char *out, size_t outlen);

#endif
