/* capacity_view.c: see capacity_view.h. The view (view.c) reads barge.scaling and
 * barge.instances; this file only annotates. */
#include "capacity_view.h"

#include <string.h>

#include "jsonget.h"
#include "views.h"

void capacity_view_set_desired(json_t *ces, const json_t *desired) {
  size_t i;
  json_t *ce;
  json_array_foreach(ces, i, ce) {
    json_t *cr = json_object_get(ce, "computeResources");
    const char *name = jget_str(ce, "computeEnvironmentName");
    json_t *d = name ? json_object_get(desired, name) : NULL;
    if (json_is_object(cr) && json_is_integer(d)) json_object_set(cr, "desiredvCpus", d);
  }
}

void capacity_view_set_instances(json_t *ces, const json_t *latest) {
  size_t i;
  json_t *ce;
  json_array_foreach(ces, i, ce) {
    const char *name = jget_str(ce, "computeEnvironmentName");
    json_t *list = json_array();
    const char *id;
    json_t *ev;
    json_object_foreach((json_t *)latest, id, ev) {
      const char *kind = jget_str(ev, "kind");
      const char *cen = jget_str(ev, "computeEnvironment");
      if (!name || !cen || strcmp(name, cen) || !kind) continue;
      if (!strcmp(kind, "TERMINATED") || !strcmp(kind, "LOST") || !strcmp(kind, "LAUNCH_FAILED")) continue;
      json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "instanceId", id,
                                            "instanceType", jget_str(ev, "instanceType") ? jget_str(ev, "instanceType") : "",
                                            "state", kind, "vcpus", json_integer_value(json_object_get(ev, "vcpus")),
                                            "memoryMib", json_integer_value(json_object_get(ev, "memoryMib")),
                                            "gpus", json_integer_value(json_object_get(ev, "gpus"))));
    }
    json_object_set_new(ce, "instances", list);
  }
}
