/* test_api_model.c: Barge's request model (producers/aws/aws_ops.c, maintained by hand) against
 * botocore's (the shapes tools/gen_api_routes.py writes into producers/api/routes_gen.c; the
 * suite checks that file against the installed botocore). Every operation Barge serves has
 * exactly the model's input members, and every structure Barge models has exactly the model's
 * members with the model's types. So a member Barge's model lacks is one AWS's lacks too (an
 * "unknown parameter"), and each member AWS has is honoured, out of scope or marked
 * unhonoured: refused by name, never dropped (docs/api.md, "Members Barge refuses"). */
#include <string.h>

#include "aws_op.h"
#include "check.h"
#include "routes.h"
#include "util.h"

static const struct api_model_shape *model_shape(const char *name) {
  for (size_t i = 0; i < api_model_shapes_count; i++)
    if (!strcmp(api_model_shapes[i].name, name)) return &api_model_shapes[i];
  return NULL;
}

/* "name:type,..." of Barge's members (params when op is set), for comparison with the model's
 * text m. An out-of-scope member is free JSON in Barge's model: its type is taken as the
 * model's. */
static void members_text(const struct aws_shape *sh, const struct aws_op *op, const char *m, struct buf *b) {
  size_t n = op ? op->n_params : sh->n_members;
  for (size_t i = 0; i < n; i++) {
    const char *name = op ? op->params[i].member : sh->members[i].name;
    const struct aws_shape *ms = op ? op->params[i].shape : sh->members[i].shape;
    char type[32];
    snprintf(type, sizeof type, "%s", aws_type_word(ms));
    const char *at = ms->type == AWS_JSON ? strstr(m, name) : NULL;
    if (at && at[strlen(name)] == ':') sscanf(at + strlen(name) + 1, "%31[a-z]", type);
    buf_printf(b, "%s%s:%s", i ? "," : "", name, type);
  }
}

static const char *checked[256];
static size_t n_checked;

static void check_shape(const struct aws_shape *sh) {
  if (sh->type == AWS_LIST || sh->type == AWS_MAP) {
    check_shape(sh->elem);
    return;
  }
  if (sh->type != AWS_STRUCT) return;
  for (size_t i = 0; i < n_checked; i++)
    if (!strcmp(checked[i], sh->name)) return;
  if (n_checked < 256) checked[n_checked++] = sh->name;
  const struct api_model_shape *m = model_shape(sh->name);
  CHECK(m != NULL, "Barge's structure %s is not a shape of the model", sh->name);
  struct buf b;
  buf_init(&b);
  members_text(sh, NULL, m ? m->members : "", &b);
  if (m) CHECK(!strcmp(m->members, (char *)b.data), "%s:\n  model: %s\n  Barge: %s", sh->name, m->members, (char *)b.data);
  buf_release(&b);
  for (size_t i = 0; i < sh->n_members; i++) check_shape(sh->members[i].shape);
}

int main(void) {
  TEST("every operation's request members are the model's, in the model's order and types");
  size_t unhonoured = 0;
  for (size_t i = 0; i < aws_n_ops; i++) {
    const struct aws_op *op = &aws_ops[i];
    char name[128];
    snprintf(name, sizeof name, "op:%s", op->api_name);
    const struct api_model_shape *m = model_shape(name);
    CHECK(m != NULL, "%s is an operation of the model", op->api_name);
    if (!m) continue;
    struct buf b;
    buf_init(&b);
    members_text(NULL, op, m->members, &b);
    CHECK(!strcmp(m->members, (char *)b.data), "%s:\n  model: %s\n  Barge: %s", op->api_name, m->members, (char *)b.data);
    buf_release(&b);
    for (size_t k = 0; k < op->n_params; k++) {
      unhonoured += op->params[k].unhonoured;
      if (op->params[k].shape->type != AWS_JSON) check_shape(op->params[k].shape);
    }
  }
  TEST("every structure Barge models has the model's members");
  printf("   %zu structures compared, %zu unhonoured top-level members\n", n_checked, unhonoured);
  CHECK(n_checked > 30, "the structures were walked (%zu)", n_checked);
  CHECK(unhonoured >= 3, "context (twice) and updatePolicy are marked");
  return check_summary();
}
