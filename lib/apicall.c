/* apicall.c: see apicall.h. */
#include "apicall.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

struct apicall {
  CURL *curl;
  char *endpoint, *host, *key, *secret, *region, *service;
  char *extra; /* one more header line, or NULL */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct apicall *apicall_new(const char *endpoint, const char *access_key, const char *secret_key,
                            const char *region, const char *service) {
  pthread_once(&curl_once, curl_init);
  struct apicall *a = xcalloc(1, sizeof *a);
  a->curl = curl_easy_init();
  a->endpoint = xstrdup(endpoint);
  const char *h = strstr(endpoint, "://");
  a->host = xstrdup(h ? h + 3 : endpoint);
  a->host[strcspn(a->host, "/")] = 0;
  a->key = xstrdup(access_key);
  a->secret = xstrdup(secret_key);
  a->region = xstrdup(region);
  a->service = xstrdup(service);
  return a;
}

void apicall_free(struct apicall *a) {
  if (!a) return;
  curl_easy_cleanup(a->curl);
  free(a->endpoint);
  free(a->host);
  free(a->key);
  free(a->secret);
  free(a->region);
  free(a->service);
  free(a->extra);
  free(a);
}

void apicall_header(struct apicall *a, const char *line) {
  free(a->extra);
  a->extra = line ? xstrdup(line) : NULL;
}

static size_t collect(char *p, size_t size, size_t n, void *ctx) {
  buf_append(ctx, p, size * n);
  return size * n;
}

int apicall_json(struct apicall *a, const char *method, const char *path, const json_t *body,
                 json_t **resp, char *err, size_t errlen) {
  *resp = NULL;
  char *text = json_dumps(body, JSON_COMPACT);
  size_t len = text ? strlen(text) : 0;
  char date[17], auth[1024], url[2048], h_date[64], h_auth[1100];
  sigv4_amz_date(now_ms(), date);
  struct sigv4_creds cr = {a->key, a->secret, NULL};
  struct buf canon; /* the path as signed: encoded once more (a label's "%3A" as "%253A") */
  buf_init(&canon);
  sigv4_uri_encode(&canon, path, 1);
  int signed_ = sigv4_sign(&cr, a->region, a->service, method, a->host, canon.len ? (char *)canon.data : path, "",
                           "application/json", text, len, date, auth, sizeof auth);
  buf_release(&canon);
  if (signed_) {
    free(text);
    snprintf(err, errlen, "signing failed");
    return -1;
  }
  snprintf(url, sizeof url, "%s%s", a->endpoint, path);
  snprintf(h_date, sizeof h_date, "X-Amz-Date: %s", date);
  snprintf(h_auth, sizeof h_auth, "Authorization: %s", auth);
  struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
  hl = curl_slist_append(hl, h_date);
  hl = curl_slist_append(hl, h_auth);
  hl = curl_slist_append(hl, "Expect:");
  if (a->extra) hl = curl_slist_append(hl, a->extra);
  struct buf out;
  buf_init(&out);
  CURL *c = a->curl;
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode e = curl_easy_perform(c);
  long status = -1;
  if (e != CURLE_OK) snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(e));
  else curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hl);
  free(text);
  if (status > 0 && out.len) *resp = json_loadb((const char *)out.data, out.len, 0, NULL);
  if (status > 0 && !*resp && status == 200) {
    snprintf(err, errlen, "%s: the answer is not JSON", url);
    status = -1;
  }
  buf_release(&out);
  return (int)status;
}

int apicall_profile_keys(const char *file, const char *profile, char *key, size_t keylen,
                         char *secret, size_t secretlen) {
  char *text = read_file(file, NULL);
  if (!text) return -1;
  int in = 0, got = 0;
  char want[256], want2[256];
  snprintf(want, sizeof want, "[%s]", profile);
  snprintf(want2, sizeof want2, "[profile %s]", profile);
  for (char *sv, *line = strtok_r(text, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv)) {
    while (*line == ' ' || *line == '\t') line++;
    line[strcspn(line, "\r#;")] = 0;
    size_t n = strlen(line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t')) line[--n] = 0;
    if (line[0] == '[') {
      in = !strcmp(line, want) || !strcmp(line, want2);
      continue;
    }
    char *eq = strchr(line, '=');
    if (!in || !eq) continue;
    char *v = eq + 1;
    while (*v == ' ') v++;
    *eq = 0;
    for (char *k = eq - 1; k >= line && (*k == ' ' || *k == '\t'); k--) *k = 0;
    if (!strcmp(line, "aws_access_key_id")) got |= 1, snprintf(key, keylen, "%s", v);
    if (!strcmp(line, "aws_secret_access_key")) got |= 2, snprintf(secret, secretlen, "%s", v);
  }
  free(text);
  return got == 3 ? 0 : -1;
}
