/* logs_source.c: where `barge api` finds job logs (logs_api.h, docs/api.md "Job logs").
 *
 * The streams are the attempts of barge.jobs that have a log: attempt n of a job (1-based) is
 * detail.attempts[n-1] once it closed, and the live attempt detail.container until then; its
 * stream name is the logStreamName the scheduler gave it. Its text is read from the path the agent
 * recorded (JobRecord.logPath, the attempt number swapped in, as `barge logs` does) when that file
 * is on this host and local reads are allowed; otherwise it is fetched from the log server of the
 * agent that ran it (`barge agent --log-listen`), whose URL the agent advertises in its
 * InstanceEvents (logUrl): GET <logUrl>/<jobId>/<attempt>.log ('#' of a node's id as %23), signed with the secret of
 * --log-token-file when the API has one (lib/logauth.h: the path signed is the one relative to
 * the log server, so a proxy in front of it may add a prefix).
 *
 * With the API's live view (logs_source_conf.live) the streams come from its jobs store, never
 * from a read of barge.jobs: one stream by name (GetLogEvents, FilterLogEvents' logStreamNames)
 * is one lookup in the store's index from stream name to job (stream_index.h) and one record
 * decoded; a listing (DescribeLogStreams, FilterLogEvents by prefix or of every stream) decodes
 * the records of the jobs that have streams, in memory. A name the view does not have yet waits
 * for the view to reach the end of barge.jobs (view_live_sync) and is looked up once more, so a
 * job that just started is found. Without a view (a test's source) each call reads barge.jobs to
 * its end (O(table)). The metric barge_api_logs_records_total{from="view"|"topic"} counts the
 * job records looked at either way. The instances table is read only when a log must be fetched
 * from an agent. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "jsonget.h"
#include "logauth.h"
#include "logs_api.h"
#include "metrics.h"
#include "view_live.h"
#include "query.h"
#include "views.h"

#define VIEW_WAIT_MS 30000 /* a call waits this long for the view's first load */
#define SYNC_WAIT_MS 5000  /* and this long for the view to reach barge.jobs' end on a miss */

struct source {
  struct logs_source src; /* first: logs_source_free gets it back */
  struct logs_source_conf conf;
  struct metric *m_records;
  /* logs_read_from's last log server: its instance and URL, kept until a fetch from it fails */
  pthread_mutex_t url_mu;
  char *url_inst, *url;
};

static void count(struct source *s, const char *from, size_t n) {
  const char *lv[] = {from};
  metric_add(s->m_records, lv, (double)n);
}

void logs_record_streams(const char *job_id, const json_t *rec, int only, struct logs_streams *out) {
  const char *lp = jget_str(rec, "logPath");
  const json_t *d = json_object_get(rec, "detail");
  if (!lp || !d) return;
  const char *slash = strrchr(lp, '/');
  int dirlen = slash ? (int)(slash - lp) : 0;
  const json_t *atts = json_object_get(d, "attempts");
  int opened = (int)jget_int(rec, "attempt", 0);
  /* the log group the job's logConfiguration names, where AWS would have written its log and
   * where Airflow's BatchOperator and Nextflow look for it */
  const char *stored = jget_str(json_object_get(d, "container"), "storedJson");
  /* the container's stored members hold logConfiguration; parsed only when they name a group
   * (listing every stream comes here for every job) */
  json_t *full = stored && strstr(stored, "awslogs-group") ? query_job_detail(d) : json_incref((json_t *)d);
  const json_t *lc = json_object_get(json_object_get(full, "container"), "logConfiguration");
  const char *group = jget_str(json_object_get(lc, "options"), "awslogs-group");
  const char *driver = jget_str(lc, "logDriver");
  if (!driver || strcmp(driver, "awslogs") || (group && !strcmp(group, LOGS_GROUP))) group = NULL;
  for (int n = only ? only : 1; n <= (only ? only : opened); n++) {
    const json_t *att = json_array_get(atts, (size_t)n - 1);
    const char *name = jobs_record_stream(rec, n);
    if (!name) continue;
    char local[4200], rel[1200];
    snprintf(local, sizeof local, "%.*s/%d.log", dirlen, lp, n);
    snprintf(rel, sizeof rel, "%.1000s/%d.log", job_id, n);
    const char *inst = jobs_record_instance(rec, n);
    struct logs_stream s = {
        .name = (char *)name,
        .job_id = (char *)job_id,
        .attempt = n,
        .rel_path = rel,
        .local_path = local,
        .instance_id = (char *)inst,
        .started_at = jget_int(att ? att : d, "startedAt", 0),
        .stopped_at = att ? jget_int(att, "stoppedAt", 0) : 0,
        .group = (char *)group,
    };
    logs_streams_add(out, &s);
  }
  json_decref(full);
}

struct each_job {
  struct logs_streams *out;
  size_t n;
};

static void each_job(void *ctx, const char *id, const json_t *rec) {
  struct each_job *e = ctx;
  logs_record_streams(id, rec, 0, e->out);
  e->n++;
}

static int list(void *ctx, struct logs_streams *out, char *err, size_t errlen) {
  struct source *s = ctx;
  if (s->conf.live) {
    const struct view *v;
    if (view_live_read(s->conf.live, VIEW_WAIT_MS, &v, err, errlen)) return 500;
    struct each_job e = {out, 0};
    jobs_store_each_streamed(v->jobs, each_job, &e);
    view_live_done(s->conf.live);
    count(s, "view", e.n);
    return 0;
  }
  json_t *jobs = NULL;
  if (jobs_view_load(s->conf.bc, &jobs, err, errlen)) {
    json_decref(jobs);
    return 500;
  }
  const char *id;
  json_t *rec;
  json_object_foreach(jobs, id, rec) logs_record_streams(id, rec, 0, out);
  count(s, "topic", json_object_size(jobs));
  json_decref(jobs);
  return 0;
}

/* The stream `name` from the view's index into out: 0, 404 when the view has no such stream, or
 * 500 (the view is not loaded). */
static int find_in_view(struct source *s, const char *name, struct logs_streams *out, char *err, size_t errlen) {
  const struct view *v;
  if (view_live_read(s->conf.live, VIEW_WAIT_MS, &v, err, errlen)) return 500;
  const char *id;
  int attempt;
  json_t *rec = jobs_store_find_stream(v->jobs, name, &id, &attempt);
  if (rec) logs_record_streams(id, rec, attempt, out); /* copies what it keeps: id is the store's */
  view_live_done(s->conf.live);
  count(s, "view", rec ? 1 : 0);
  json_decref(rec);
  return rec ? 0 : 404;
}

static int find(void *ctx, const char *name, struct logs_streams *out, char *err, size_t errlen) {
  struct source *s = ctx;
  int rc = find_in_view(s, name, out, err, errlen);
  if (rc == 404) { /* maybe not read yet: once the view has caught up with barge.jobs, again */
    if (view_live_sync(s->conf.live, VIEW_JOBS, SYNC_WAIT_MS))
      log_debug("logs: the view did not reach barge.jobs' end in %d ms; answering as it is", SYNC_WAIT_MS);
    rc = find_in_view(s, name, out, err, errlen);
  }
  return rc == 404 ? 0 : rc;
}

/* ---- the log URL of an instance: the last one its InstanceEvents advertised ---- */

struct url_find {
  const char *instance_id;
  char *url;
};

static void url_cb(void *ctx, const struct bus_msg *m) {
  struct url_find *f = ctx;
  size_t il = strlen(f->instance_id);
  if (!m->value || m->keylen != il || memcmp(m->key, f->instance_id, il)) return;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (bus_decode(m, &t, &ev, why, sizeof why)) return;
  const char *u = jget_str(ev, "logUrl");
  if (u && *u) {
    free(f->url);
    f->url = xstrdup(u);
  }
  json_decref(ev);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
  struct buf *b = ctx;
  if (b->len + size * n > LOGS_MAX_FILE_BYTES) return 0; /* curl stops: too large */
  buf_append(b, p, size * n);
  return size * n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* base + path, the path percent-encoded beyond [A-Za-z0-9/:._-]: a multi-node job's node logs
 * live under "<jobId>#<node>/", and a bare '#' would start the URL's fragment. The log server
 * sees (and the signature covers) the decoded path. */
static void url_with_path(char *url, size_t n, const char *base, const char *path) {
  static const char hex[] = "0123456789ABCDEF";
  size_t k = (size_t)snprintf(url, n, "%s", base);
  for (const unsigned char *p = (const unsigned char *)path; *p && k + 4 < n; p++) {
    if (strchr("/:._-", *p) || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
      url[k++] = (char)*p;
    else {
      url[k++] = '%';
      url[k++] = hex[*p >> 4];
      url[k++] = hex[*p & 15];
    }
  }
  if (k < n) url[k] = 0;
}

/* A byte range to ask for (fetch): bytes [from, from + max) of the file. What the answer said of
 * it: partial, 1 when the server sent those bytes alone (206), 0 when it sent the whole file (an
 * agent from before ranges); size, the file's size from a 416's Content-Range (-1: not said). */
struct range {
  uint64_t from;
  size_t max;
  int partial;
  int64_t size;
};

static size_t on_header(char *p, size_t size, size_t n, void *ctx) {
  struct range *r = ctx;
  size_t l = size * n;
  unsigned long long total;
  if (l > 14 && !strncasecmp(p, "content-range:", 14) && sscanf(p + 14, " bytes */%llu", &total) == 1)
    r->size = (int64_t)total;
  return l;
}

/* GET base + path into *text (NUL-terminated, *len bytes), signed when the source has a key,
 * with a Range header when rg is not NULL. 0; 404 when the server has no such file; 416 when the
 * range starts at or past its end (rg->size: the size); 500 for any other failure, with the
 * reason in err. */
static int fetch(const struct source *s, const char *base, const char *path, struct range *rg, char **text,
                 size_t *len, char *err, size_t errlen) {
  pthread_once(&curl_once, curl_init);
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(err, errlen, "curl_easy_init failed");
    return 500;
  }
  char url[4600], auth[400] = "Authorization: ", nonce[17];
  url_with_path(url, sizeof url, base, path);
  struct curl_slist *hdrs = NULL;
  if (s->conf.log_key) {
    random_hex(nonce, 16);
    size_t al = strlen(auth);
    logauth_sign(s->conf.log_key, s->conf.log_keylen, path, now_ms(), nonce, auth + al, sizeof auth - al);
    hdrs = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  }
  struct buf b;
  buf_init(&b);
  long timeout = s->conf.fetch_timeout_ms > 0 ? (long)s->conf.fetch_timeout_ms : 10000L;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (s->conf.log_ca_bundle) curl_easy_setopt(c, CURLOPT_CAINFO, s->conf.log_ca_bundle);
  char rbuf[64];
  if (rg) {
    snprintf(rbuf, sizeof rbuf, "%llu-%llu", (unsigned long long)rg->from,
             (unsigned long long)(rg->from + rg->max - 1));
    curl_easy_setopt(c, CURLOPT_RANGE, rbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rg);
    rg->size = -1;
  }
  CURLcode cr = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  curl_slist_free_all(hdrs);
  if (cr == CURLE_OK && status == 404) {
    buf_release(&b);
    snprintf(err, errlen, "GET %s: HTTP 404 (no such log on the instance)", url);
    return 404;
  }
  if (rg && cr == CURLE_OK && status == 416) {
    buf_release(&b);
    return 416;
  }
  if (rg) rg->partial = status == 206;
  if (cr != CURLE_OK || (status != 200 && !(rg && status == 206))) {
    if (cr != CURLE_OK) snprintf(err, errlen, "GET %s: %s", url, curl_easy_strerror(cr));
    else if (status == 401 || status == 403) { /* the server's one-line reason */
      size_t n = 0;
      while (n < b.len && n < 300 && b.data[n] != '\n') n++;
      snprintf(err, errlen, "GET %s: HTTP %ld: %.*s", url, status, (int)n, n ? (char *)b.data : "");
    }
    else snprintf(err, errlen, "GET %s: HTTP %ld", url, status);
    buf_release(&b);
    return 500;
  }
  if (!b.data) buf_append(&b, "", 0);
  *text = (char *)b.data;
  *len = b.len;
  return 0;
}

/* The log server URL instance_id's agent advertises (malloc'd, no trailing '/'), from the
 * instances table; NULL with the reason in err. */
static char *instance_url(struct source *s, const char *instance_id, char *err, size_t errlen) {
  struct url_find f = {instance_id, NULL};
  if (view_read_table(s->conf.bc, TOPIC_INSTANCES, url_cb, &f, err, errlen)) {
    free(f.url);
    return NULL;
  }
  if (!f.url) {
    snprintf(err, errlen, "the log is on instance %s, whose agent serves no logs (barge agent --log-listen)",
             instance_id);
    return NULL;
  }
  size_t ul = strlen(f.url);
  if (ul && f.url[ul - 1] == '/') f.url[ul - 1] = 0;
  return f.url;
}

static int read_log(void *ctx, const struct logs_stream *st, char **text, size_t *len, char **times, char *err,
                    size_t errlen) {
  struct source *s = ctx;
  struct stat sb;
  *times = NULL;
  if (s->conf.local && st->local_path && stat(st->local_path, &sb) == 0) {
    char tpath[4300];
    snprintf(tpath, sizeof tpath, "%.4200s.times", st->local_path); /* agent/runner.h */
    if ((size_t)sb.st_size > LOGS_MAX_FILE_BYTES) {
      snprintf(err, errlen, "%s is larger than %u bytes", st->local_path, LOGS_MAX_FILE_BYTES);
      return 500;
    }
    *text = read_file(st->local_path, len);
    if (*text) {
      *times = read_file(tpath, NULL);
      return 0;
    }
    snprintf(err, errlen, "%s: %s", st->local_path, strerror(errno));
    return 500;
  }
  if (s->conf.local && jobs_log_empty_here(st->local_path, st->instance_id)) {
    *text = xstrdup(""); /* ran here and printed nothing: no file (agent/joblog.h) */
    *len = 0;
    return 0;
  }
  if (!st->instance_id) {
    snprintf(err, errlen, "the log is not on this host and the instance that ran it is unknown");
    return 500;
  }
  char *url = instance_url(s, st->instance_id, err, errlen);
  if (!url) return 500;
  char path[1300], tpath[1310], e[256];
  size_t tlen;
  snprintf(path, sizeof path, "/%s", st->rel_path);
  snprintf(tpath, sizeof tpath, "%s.times", path);
  int rc = fetch(s, url, path, NULL, text, len, err, errlen);
  if (!rc && fetch(s, url, tpath, NULL, times, &tlen, e, sizeof e)) *times = NULL; /* older agents write none */
  free(url);
  if (rc == 404) { /* the agent that ran it has no such file: it printed nothing (agent/joblog.h) */
    *text = xstrdup("");
    *len = 0;
    return 0;
  }
  return rc ? 500 : 0;
}

/* The local file's bytes [from, from + max): see logs_read_from. 0, 1, -1; 2 when there is no
 * such file. */
static int read_local_from(const char *path, uint64_t from, size_t max, char **text, size_t *len, char *err,
                           size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 2;
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  struct stat sb;
  if (fstat(fd, &sb)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if ((uint64_t)sb.st_size < from) {
    close(fd);
    return 1;
  }
  uint64_t left = (uint64_t)sb.st_size - from;
  size_t want = left < max ? (size_t)left : max, got = 0;
  char *b = xmalloc(want + 1);
  while (got < want) {
    ssize_t n = pread(fd, b + got, want - got, (off_t)(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
      free(b);
      close(fd);
      return -1;
    }
    if (n == 0) break; /* shortened meanwhile: what there was */
    got += (size_t)n;
  }
  close(fd);
  b[got] = 0;
  *text = b;
  *len = got;
  return 0;
}

int logs_read_from(struct logs_source *src, const struct logs_stream *st, uint64_t from, size_t max, char **text,
                   size_t *len, char *err, size_t errlen) {
  struct source *s = src->ctx;
  *text = NULL;
  *len = 0;
  if (max == 0) max = 1;
  if (s->conf.local && st->local_path) {
    int rc = read_local_from(st->local_path, from, max, text, len, err, errlen);
    if (rc != 2) return rc;
    if (jobs_log_empty_here(st->local_path, st->instance_id)) {
      *text = xstrdup(""); /* ran here and has printed nothing yet: no file (agent/joblog.h) */
      return 0;
    }
  }
  if (!st->instance_id) {
    snprintf(err, errlen, "the log is not on this host and the instance that ran it is unknown");
    return -1;
  }
  /* the instance's log server, looked up once and again only after a fetch from it failed */
  pthread_mutex_lock(&s->url_mu);
  char *url = s->url_inst && !strcmp(s->url_inst, st->instance_id) ? xstrdup(s->url) : NULL;
  pthread_mutex_unlock(&s->url_mu);
  if (!url && !(url = instance_url(s, st->instance_id, err, errlen))) return -1;
  char path[1300];
  snprintf(path, sizeof path, "/%s", st->rel_path);
  struct range rg = {.from = from, .max = max};
  int rc = fetch(s, url, path, &rg, text, len, err, errlen);
  pthread_mutex_lock(&s->url_mu);
  free(s->url_inst);
  free(s->url);
  s->url_inst = rc == 500 ? NULL : xstrdup(st->instance_id);
  s->url = rc == 500 ? NULL : url;
  pthread_mutex_unlock(&s->url_mu);
  if (rc == 500) {
    free(url);
    return -1;
  }
  if (rc == 404 || rc == 416) { /* nothing printed yet (agent/joblog.h), or nothing new */
    *text = xstrdup("");
    return rc == 416 && rg.size >= 0 && (uint64_t)rg.size < from ? 1 : 0;
  }
  if (!rg.partial) { /* the whole file: an agent from before ranges */
    if (*len < from) {
      free(*text);
      *text = NULL;
      *len = 0;
      return 1;
    }
    size_t n = *len - (size_t)from < max ? *len - (size_t)from : max;
    memmove(*text, *text + from, n);
    (*text)[n] = 0;
    *len = n;
  }
  return 0;
}

struct logs_source *logs_source_new(const struct logs_source_conf *conf) {
  struct source *s = xcalloc(1, sizeof *s);
  s->conf = *conf;
  s->src.ctx = s;
  s->src.list = list;
  s->src.find = conf->live ? find : NULL;
  s->src.read = read_log;
  pthread_mutex_init(&s->url_mu, NULL);
  s->m_records = metrics_counter(metrics_global(), "barge_api_logs_records_total",
                                 "job records the CloudWatch Logs calls looked at, from the API's view (by its stream "
                                 "index) or by reading barge.jobs",
                                 "from");
  return &s->src;
}

void logs_source_free(struct logs_source *src) {
  if (!src) return;
  struct source *s = src->ctx;
  pthread_mutex_destroy(&s->url_mu);
  free(s->url_inst);
  free(s->url);
  free(s);
}
