/* codec.h: Barge's event codec, the only code that includes avro.h.
 *
 * Events are Avro records whose schemas live in schemas/NAME.avsc and are embedded in the binary at
 * build time (tools/schemagen.c writes schemas_gen.{c,h}: the schema texts and
 * `enum barge_ev_type`, one value per top-level schema, e.g. BARGE_EV_JOB_REQUEST).
 *
 * In memory an event is a jansson object in Barge's JSON convention:
 *   - record -> object keyed by field name; a missing field takes the schema default;
 *   - union of null and one other type -> JSON null / absent, or the plain value;
 *   - any other union -> {"<BranchName>": value}, BranchName being a record's short name or a
 *     primitive type name (as in the Avro JSON encoding);
 *   - enum -> string; map -> object; array -> array; long/int -> integer; float/double -> real
 *     (integers accepted); boolean -> true/false; bytes/fixed -> string of base64.
 *
 * Wire framings (docs/architecture.md "Events and schemas"), both produced and both accepted by codec_decode:
 *   - single-object encoding: C3 01, 8-byte little-endian CRC-64-AVRO fingerprint of the
 *     schema's Parsing Canonical Form, Avro binary body;
 *   - Confluent framing: 00, 4-byte big-endian schema id, Avro binary body (ids registered with
 *     codec_set_schema_id, e.g. by the schema registry client).
 *
 * Thread-safety: codec_init before any other call; it is idempotent and may be called from
 * several threads at once (one does the work, the others wait for it: the client library calls
 * it from every barge_client_new). After it returned, every function may be called from any
 * thread. */
#ifndef BARGE_CODEC_H
#define BARGE_CODEC_H
#include <jansson.h>
#include <stdint.h>

#include "schemas_gen.h"
#include "util.h"

/* Parses every embedded schema and computes fingerprints. 0 on success; on failure writes the
 * reason into err. */
int codec_init(char *err, size_t errlen) BARGE_WUR;

/* The schema's full name ("barge.JobRequest"), its JSON text (with named types it uses inlined),
 * its Parsing Canonical Form and CRC-64-AVRO fingerprint. */
const char *codec_type_name(enum barge_ev_type t);
const char *codec_schema_json(enum barge_ev_type t);
const char *codec_canonical_form(enum barge_ev_type t);
/* The Parsing Canonical Form of any Avro schema text (e.g. one fetched from a registry),
 * appended to out. 0, or -1 with the reason in err (not JSON, not a valid schema). */
int codec_canonical_form_of(const char *schema_json, struct buf *out, char *err, size_t errlen)
    BARGE_WUR;
uint64_t codec_fingerprint(enum barge_ev_type t);
/* Finds a type by full or short name; -1 when unknown. */
int codec_type_by_name(const char *name);

/* Registry ids: with an id set (> 0) for a type, encoding uses Confluent framing for it; decoding
 * maps Confluent ids back to types through the same table. A Confluent id that no type carries
 * is passed to the table's resolver, when it has one (the schema registry client,
 * lib/registry.c): it returns the event type the id stands for, or -1 with the reason in err, or
 * CODEC_ID_UNAVAILABLE when it could not find out now (the registry did not answer): the bytes
 * are then not invalid, only undecodable until it answers. It may be called from any thread that
 * decodes, with the ctx it was given.
 *
 * Ids belong to a registry, so there is one table per registry: the process's (set by
 * codec_set_schema_id and codec_set_id_resolver, used by codec_encode, codec_decode,
 * codec_put_frame, codec_render_json and codec_pick_decode: a service's one registry), and any
 * number of others (codec_ids_new, used by codec_encode_ids and codec_decode_ids: one per client
 * library handle, docs/publishing.md), which leave the process's alone. */
#define CODEC_ID_UNAVAILABLE (-2)
typedef int (*codec_id_resolver)(void *ctx, int32_t id, char *err, size_t errlen);
void codec_set_schema_id(enum barge_ev_type t, int32_t id);
int32_t codec_schema_id(enum barge_ev_type t);
/* The process table's resolver (NULL removes it) and the ctx passed to it. */
void codec_set_id_resolver(codec_id_resolver fn, void *ctx);

struct codec_ids;
/* A table of its own: no ids set, resolver fn (may be NULL) called with ctx. */
struct codec_ids *codec_ids_new(codec_id_resolver fn, void *ctx);
void codec_ids_free(struct codec_ids *ids);
void codec_ids_set(struct codec_ids *ids, enum barge_ev_type t, int32_t id);
int32_t codec_ids_get(const struct codec_ids *ids, enum barge_ev_type t); /* ids NULL: the process's */

/* Encodes v (borrowed) as event type t, appending the framed bytes to out. 0 on success;
 * on a value that does not match the schema, non-zero with the path of the bad field in err
 * (e.g. "body.SubmitJob.jobName: expected string"). */
int codec_encode(enum barge_ev_type t, const json_t *v, struct buf *out, char *err,
                 size_t errlen) BARGE_WUR;
/* codec_encode framing with the ids of ids (NULL: the process's table). */
int codec_encode_ids(const struct codec_ids *ids, enum barge_ev_type t, const json_t *v, struct buf *out,
                     char *err, size_t errlen) BARGE_WUR;

/* ---- writing an event without the tree ----
 *
 * For a service's hottest outputs (the scheduler's JobStateChange): after codec_put_frame (the
 * framing codec_encode would write for type t), the caller writes every field of the schema, in
 * its order, with the Avro binary primitives below. The bytes must be those codec_encode gives for
 * the same value: a unit test of each such writer compares the two (a schema change that the
 * writer does not follow fails it). codec_put_str writes a string (NUL-terminated, valid UTF-8:
 * not checked here); the opt forms write a union of null first and the value second. */
void codec_put_frame(enum barge_ev_type t, struct buf *out);
void codec_put_long(struct buf *out, int64_t v); /* int and long */
void codec_put_str(struct buf *out, const char *s);
void codec_put_opt_str(struct buf *out, const char *s);           /* NULL: the null branch */
void codec_put_opt_long(struct buf *out, int has, int64_t v); /* !has: the null branch */

/* A field's schema node under type t, by its dotted path ("detail.container"; a segment steps
 * through a union of null and a record), for codec_put_json; NULL when the path names none. */
struct codec_node;
const struct codec_node *codec_node_at(enum barge_ev_type t, const char *path);
/* Encodes v as that node (no framing), as codec_encode would inside the event; non-zero with the
 * reason in err when v does not match. */
int codec_put_json(const struct codec_node *node, const json_t *v, struct buf *out, char *err,
                   size_t errlen) BARGE_WUR;

/* Decodes framed bytes of either framing. On success *type_out is the event type and *out a
 * new reference the caller owns. On failure (bad magic, unknown fingerprint or id, truncated
 * or corrupt body) non-zero with the reason in err, and *out is NULL: 2 when the resolver could
 * not tell what a Confluent id stands for now (CODEC_ID_UNAVAILABLE), 1 otherwise. */
int codec_decode(const void *data, size_t len, enum barge_ev_type *type_out, json_t **out,
                 char *err, size_t errlen) BARGE_WUR;
/* codec_decode with Confluent ids looked up in ids (NULL: the process's table). */
int codec_decode_ids(const struct codec_ids *ids, const void *data, size_t len, enum barge_ev_type *type_out,
                     json_t **out, char *err, size_t errlen) BARGE_WUR;

/* ---- rendering to JSON text without the tree (lib/codec_json.c) ----
 *
 * codec_render_json appends to out the compact JSON text of framed bytes: byte for byte
 * json_dumps(v, JSON_COMPACT) of codec_decode's value v with its null members removed (as
 * bus_decode delivers events), built without jansson. 0 with *type_out set; 1 when this path does
 * not render these bytes (corrupt or undecodable ones, or a map naming a key twice), out left as
 * it was: call codec_decode for the verdict and its error. Used where every event is written
 * out as JSON (the audit log). */
int codec_render_json(const void *data, size_t len, enum barge_ev_type *type_out,
                      struct buf *out) BARGE_WUR;
/* Appends the n bytes at s as a JSON string exactly as jansson's json_dumps writes it; 1 (and
 * nothing appended) when they are not valid UTF-8, where json_stringn would refuse them. */
int codec_json_string(struct buf *out, const void *s, size_t n) BARGE_WUR;

/* ---- projections: a few fields of a record, read without decoding the rest ----
 *
 * A projection names fields by their dotted path from the event's root ("detail.status"); a
 * segment may step through a union of null and a record ("detail.arrayProperties.index").
 * codec_pick_decode walks the Avro body once, bounding every length by the bytes left as
 * codec_decode does, skips every field not named (no allocation) and fills one codec_field per
 * path: the value of a scalar (int, long, boolean, enum, string: a span of the input, not
 * NUL-terminated and not checked for UTF-8), the item count of an array or map, CF_NULL for a
 * null (or a path under a null union). Used where a consumer reads a few fields of many records
 * (the scheduler's rebuild). */
struct codec_pick;
/* A projection of the n paths of event type t; NULL with the reason in err (a path that names
 * no field, or a record without a further segment). Free with codec_pick_free. */
struct codec_pick *codec_pick_new(enum barge_ev_type t, const char *const *paths, size_t n, char *err,
                                  size_t errlen);
void codec_pick_free(struct codec_pick *p);
enum codec_field_kind { CF_NULL, CF_INT, CF_BOOL, CF_STRING, CF_COUNT, CF_OTHER };
struct codec_field {
  enum codec_field_kind kind;
  int64_t i;      /* CF_INT (int, long), CF_BOOL (0/1), CF_COUNT (items) */
  const char *s;  /* CF_STRING (string or enum symbol): s[0..n) */
  size_t n;
};
/* Fills out[0..n) (n as given to codec_pick_new) from framed bytes of the projection's type. 0, or
 * non-zero with the reason in err (another type, truncated or corrupt bytes). */
int codec_pick_decode(const struct codec_pick *p, const void *data, size_t len, struct codec_field *out,
                      char *err, size_t errlen) BARGE_WUR;

/* CRC-64-AVRO (the Rabin fingerprint of the Avro specification) of arbitrary bytes. */
uint64_t codec_crc64_avro(const void *data, size_t len);

#endif
