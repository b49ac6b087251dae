/* routes.c: matching a request to the generated route table (routes.h). 45 rows, one per
 * operation of the model: a linear scan costs less than the request's JSON parse. */
#include "routes.h"

#include <string.h>

const struct api_route *api_route_find(const char *method, const char *raw_path, const char **label,
                                       size_t *label_len) {
  *label = NULL;
  *label_len = 0;
  for (size_t i = 0; i < api_routes_count; i++) {
    const struct api_route *r = &api_routes[i];
    if (strcmp(r->method, method)) continue;
    const char *brace = strchr(r->path, '{');
    if (!brace) {
      if (!strcmp(r->path, raw_path)) return r;
      continue;
    }
    /* "/v1/tags/{resourceArn}": the prefix, then one non-empty segment (the label is sent
     * percent-encoded, so it holds no '/') */
    size_t pre = (size_t)(brace - r->path);
    if (strncmp(r->path, raw_path, pre)) continue;
    const char *seg = raw_path + pre;
    if (!*seg || strchr(seg, '/')) continue;
    *label = seg;
    *label_len = strlen(seg);
    return r;
  }
  return NULL;
}
