/* fuzz_codec: the Avro decoder (lib/codec.h) on arbitrary bytes.
 *
 * Each input is decoded twice:
 *   1. as it is: either framing (single-object C3 01 + fingerprint, or Confluent 00 + id; every
 *      type carries the Confluent id FUZZ_ID_BASE + its enum value), so the seeds, which are
 *      real encoded events, reach the body decoders and the fuzzer mutates from there;
 *   2. byte 0 picks an event type (mod BARGE_EV__COUNT) and the rest is framed as that type's
 *      body, so every type's decoder meets arbitrary bytes without guessing a fingerprint.
 * A value that decodes is encoded again (the encoder must take whatever the decoder gives). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define FUZZ_ID_BASE 1000

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char err[512];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "fuzz_codec: codec_init: %s\n", err);
    abort();
  }
  for (int t = 0; t < BARGE_EV__COUNT; t++) codec_set_schema_id((enum barge_ev_type)t, FUZZ_ID_BASE + t);
  return 0;
}

static void decode_one(const uint8_t *data, size_t len) {
  enum barge_ev_type type;
  json_t *v = NULL;
  char err[512];
  if (codec_decode(data, len, &type, &v, err, sizeof err) == 0) {
    struct buf out;
    buf_init(&out);
    if (codec_encode(type, v, &out, err, sizeof err) == 0) {
      /* what the encoder wrote decodes again */
      enum barge_ev_type t2;
      json_t *v2 = NULL;
      if (codec_decode(out.data, out.len, &t2, &v2, err, sizeof err) != 0 || t2 != type) {
        fprintf(stderr, "fuzz_codec: a re-encoded %s does not decode: %s\n", codec_type_name(type), err);
        abort();
      }
      json_decref(v2);
    }
    buf_release(&out);
    json_decref(v);
  } else if (v != NULL) {
    fprintf(stderr, "fuzz_codec: a failed decode left *out set\n");
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  decode_one(data, len);
  if (len < 1) return 0;
  int t = data[0] % BARGE_EV__COUNT;
  int32_t id = FUZZ_ID_BASE + t;
  uint8_t *framed = malloc(len + 4);
  framed[0] = 0;
  framed[1] = (uint8_t)(id >> 24);
  framed[2] = (uint8_t)(id >> 16);
  framed[3] = (uint8_t)(id >> 8);
  framed[4] = (uint8_t)id;
  memcpy(framed + 5, data + 1, len - 1);
  decode_one(framed, len + 4);
  free(framed);
  return 0;
}
