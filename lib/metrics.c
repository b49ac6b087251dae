/* metrics.c: the registry and the exposition writer of metrics.h.
 *
 * A family keeps its series in creation order (an array) and finds them through an
 * open-addressing table of indexes keyed by a hash of the label values. Everything is guarded by
 * the registry's one mutex: updates are short (a hash, a probe, an add), and a scrape renders
 * the whole registry under it into a buffer. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
  char **lv;         /* label values (nlabels of them) */
  double value;      /* counter, gauge */
  uint64_t *buckets; /* histogram: per bucket (not cumulative), nbounds + 1 */
  double sum;
  uint64_t count;
  int removed;
};

struct metric {
  struct metrics *r;
  char *name, *help;
  enum metric_type type;
  char *labels[METRIC_MAX_LABELS];
  int nlabels;
  double *bounds;
  size_t nbounds;
  struct series *series;
  size_t nseries, capseries;
  uint32_t *slots; /* index + 1 into series, 0 empty; capslots a power of two */
  size_t capslots;
};

struct metrics {
  pthread_mutex_t mu;
  struct metric **fams;
  size_t nfams;
  void (*collect)(struct metrics *r, void *ctx);
  void *collect_ctx;
};

struct metrics *metrics_new(void) {
  struct metrics *r = xcalloc(1, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  return r;
}

static void metric_free(struct metric *m) {
  for (size_t i = 0; i < m->nseries; i++) {
    for (int k = 0; k < m->nlabels; k++) free(m->series[i].lv[k]);
    free(m->series[i].lv);
    free(m->series[i].buckets);
  }
  for (int k = 0; k < m->nlabels; k++) free(m->labels[k]);
  free(m->series);
  free(m->slots);
  free(m->bounds);
  free(m->name);
  free(m->help);
  free(m);
}

void metrics_free(struct metrics *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nfams; i++) metric_free(r->fams[i]);
  free(r->fams);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static struct metrics *global;
static void global_init(void) { global = metrics_new(); }

struct metrics *metrics_global(void) {
  pthread_once(&global_once, global_init);
  return global;
}

void metrics_on_collect(struct metrics *r, void (*fn)(struct metrics *r, void *ctx), void *ctx) {
  pthread_mutex_lock(&r->mu);
  r->collect = fn;
  r->collect_ctx = ctx;
  pthread_mutex_unlock(&r->mu);
}

static struct series *find(struct metric *m, const char *const *lv, int create);

/* ---------------- families ---------------- */

/* Splits "a,b" into m->labels. */
static void set_labels(struct metric *m, const char *labels) {
  if (!labels) return;
  for (const char *p = labels; *p;) {
    size_t n = strcspn(p, ",");
    if (n && m->nlabels == METRIC_MAX_LABELS) abort(); /* a programming error */
    if (n) {
      m->labels[m->nlabels] = xmalloc(n + 1);
      memcpy(m->labels[m->nlabels], p, n);
      m->labels[m->nlabels++][n] = 0;
    }
    p += n;
    if (*p == ',') p++;
  }
}

static int same_labels(const struct metric *m, const char *labels) {
  struct metric tmp = {0};
  set_labels(&tmp, labels);
  int same = tmp.nlabels == m->nlabels;
  for (int k = 0; k < tmp.nlabels; k++) {
    same = same && !strcmp(tmp.labels[k], m->labels[k]);
    free(tmp.labels[k]);
  }
  return same;
}

static struct metric *family(struct metrics *r, enum metric_type type, const char *name, const char *help,
                             const char *labels, const double *bounds, size_t nbounds) {
  pthread_mutex_lock(&r->mu);
  struct metric *m = NULL;
  for (size_t i = 0; i < r->nfams && !m; i++)
    if (!strcmp(r->fams[i]->name, name)) m = r->fams[i];
  if (m) {
    if (m->type != type || !same_labels(m, labels)) {
      fprintf(stderr, "metric %s registered twice with different types or labels\n", name);
      abort();
    }
    pthread_mutex_unlock(&r->mu);
    return m;
  }
  m = xcalloc(1, sizeof *m);
  m->r = r;
  m->name = xstrdup(name);
  m->help = xstrdup(help ? help : "");
  m->type = type;
  set_labels(m, labels);
  if (nbounds) {
    m->bounds = xmalloc(nbounds * sizeof *m->bounds);
    memcpy(m->bounds, bounds, nbounds * sizeof *m->bounds);
    m->nbounds = nbounds;
  }
  r->fams = xrealloc(r->fams, (r->nfams + 1) * sizeof *r->fams);
  r->fams[r->nfams++] = m;
  if (!m->nlabels) find(m, NULL, 1); /* a family without labels shows 0 from the start */
  pthread_mutex_unlock(&r->mu);
  return m;
}

struct metric *metrics_counter(struct metrics *r, const char *name, const char *help, const char *labels) {
  return family(r, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *r, const char *name, const char *help, const char *labels) {
  return family(r, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *r, const char *name, const char *help, const char *labels,
                                 const double *bounds, size_t nbounds) {
  return family(r, METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* ---------------- series ---------------- */

static uint64_t hash_lv(const struct metric *m, const char *const *lv) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a, a 0xff byte between values */
  for (int k = 0; k < m->nlabels; k++) {
    for (const unsigned char *p = (const unsigned char *)(lv[k] ? lv[k] : ""); *p; p++) h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h;
}

static int lv_equal(const struct metric *m, const struct series *s, const char *const *lv) {
  for (int k = 0; k < m->nlabels; k++)
    if (strcmp(s->lv[k], lv[k] ? lv[k] : "")) return 0;
  return 1;
}

static void rehash(struct metric *m) {
  size_t cap = m->capslots ? m->capslots * 2 : 16;
  uint32_t *slots = xcalloc(cap, sizeof *slots);
  for (size_t i = 0; i < m->nseries; i++) {
    size_t at = hash_lv(m, (const char *const *)m->series[i].lv) & (cap - 1);
    while (slots[at]) at = (at + 1) & (cap - 1);
    slots[at] = (uint32_t)i + 1;
  }
  free(m->slots);
  m->slots = slots;
  m->capslots = cap;
}

/* The series of lv (created when create is set; else NULL when absent). Under the lock. A removed
 * series keeps its slot and is brought back, reset, when used again. */
static struct series *find(struct metric *m, const char *const *lv, int create) {
  if (m->capslots) {
    for (size_t at = hash_lv(m, lv) & (m->capslots - 1); m->slots[at]; at = (at + 1) & (m->capslots - 1)) {
      struct series *s = &m->series[m->slots[at] - 1];
      if (!lv_equal(m, s, lv)) continue;
      if (s->removed && !create) return NULL;
      if (s->removed) {
        s->removed = 0;
        s->value = s->sum = 0;
        s->count = 0;
        if (s->buckets) memset(s->buckets, 0, (m->nbounds + 1) * sizeof *s->buckets);
      }
      return s;
    }
  }
  if (!create) return NULL;
  if ((m->nseries + 1) * 2 > m->capslots) rehash(m);
  if (m->nseries == m->capseries) {
    m->capseries = m->capseries ? m->capseries * 2 : 8;
    m->series = xrealloc(m->series, m->capseries * sizeof *m->series);
  }
  struct series *s = &m->series[m->nseries];
  memset(s, 0, sizeof *s);
  s->lv = xcalloc((size_t)(m->nlabels ? m->nlabels : 1), sizeof *s->lv);
  for (int k = 0; k < m->nlabels; k++) s->lv[k] = xstrdup(lv[k] ? lv[k] : "");
  if (m->type == METRIC_HISTOGRAM) s->buckets = xcalloc(m->nbounds + 1, sizeof *s->buckets);
  size_t at = hash_lv(m, lv) & (m->capslots - 1);
  while (m->slots[at]) at = (at + 1) & (m->capslots - 1);
  m->slots[at] = (uint32_t)++m->nseries;
  return s;
}

void metric_add(struct metric *m, const char *const *lv, double v) {
  pthread_mutex_lock(&m->r->mu);
  find(m, lv, 1)->value += v;
  pthread_mutex_unlock(&m->r->mu);
}

void metric_set(struct metric *m, const char *const *lv, double v) {
  pthread_mutex_lock(&m->r->mu);
  find(m, lv, 1)->value = v;
  pthread_mutex_unlock(&m->r->mu);
}

void metric_observe(struct metric *m, const char *const *lv, double v) {
  pthread_mutex_lock(&m->r->mu);
  struct series *s = find(m, lv, 1);
  size_t b = 0;
  while (b < m->nbounds && v > m->bounds[b]) b++;
  if (s->buckets) s->buckets[b]++;
  s->sum += v;
  s->count++;
  pthread_mutex_unlock(&m->r->mu);
}

void metric_remove(struct metric *m, const char *const *lv) {
  pthread_mutex_lock(&m->r->mu);
  struct series *s = find(m, lv, 0);
  if (s) s->removed = 1;
  pthread_mutex_unlock(&m->r->mu);
}

double metric_value(struct metric *m, const char *const *lv) {
  pthread_mutex_lock(&m->r->mu);
  struct series *s = find(m, lv, 0);
  double v = !s ? 0 : m->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
  pthread_mutex_unlock(&m->r->mu);
  return v;
}

/* ---------------- the exposition format ---------------- */

void metrics_format_value(double v, char *out, size_t n) {
  if (isnan(v)) {
    snprintf(out, n, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (v == floor(v) && fabs(v) < 1e15) { /* whole numbers in full: 10, 1000000 */
    snprintf(out, n, "%.0f", v);
    return;
  }
  fmt_shortest(v, out, n);
}

/* Text with \ and newline escaped, and " too inside a label value (quote set). */
static void put_escaped(struct buf *b, const char *s, int quote) {
  for (; *s; s++) {
    if (*s == '\\') buf_append(b, "\\\\", 2);
    else if (*s == '\n') buf_append(b, "\\n", 2);
    else if (*s == '"' && quote) buf_append(b, "\\\"", 2);
    else buf_append(b, s, 1);
  }
}

/* NAME{l1="v1",...,extra="x"} (the braces only when there is a label). */
static void put_name(struct buf *b, const struct metric *m, const char *suffix, const struct series *s,
                     const char *extra, const char *extra_value) {
  buf_printf(b, "%s%s", m->name, suffix);
  if (!m->nlabels && !extra) return;
  buf_append(b, "{", 1);
  for (int k = 0; k < m->nlabels; k++) {
    buf_printf(b, "%s%s=\"", k ? "," : "", m->labels[k]);
    put_escaped(b, s->lv[k], 1);
    buf_append(b, "\"", 1);
  }
  if (extra) {
    buf_printf(b, "%s%s=\"", m->nlabels ? "," : "", extra);
    put_escaped(b, extra_value, 1);
    buf_append(b, "\"", 1);
  }
  buf_append(b, "}", 1);
}

static void put_series(struct buf *b, const struct metric *m, const struct series *s) {
  char num[64];
  if (m->type != METRIC_HISTOGRAM) {
    put_name(b, m, "", s, NULL, NULL);
    metrics_format_value(s->value, num, sizeof num);
    buf_printf(b, " %s\n", num);
    return;
  }
  uint64_t cum = 0;
  for (size_t i = 0; i <= m->nbounds; i++) {
    cum += s->buckets[i];
    char le[64];
    metrics_format_value(i < m->nbounds ? m->bounds[i] : INFINITY, le, sizeof le);
    put_name(b, m, "_bucket", s, "le", le);
    buf_printf(b, " %llu\n", (unsigned long long)cum);
  }
  put_name(b, m, "_sum", s, NULL, NULL);
  metrics_format_value(s->sum, num, sizeof num);
  buf_printf(b, " %s\n", num);
  put_name(b, m, "_count", s, NULL, NULL);
  buf_printf(b, " %llu\n", (unsigned long long)s->count);
}

void metrics_write(struct metrics *r, struct buf *out) {
  pthread_mutex_lock(&r->mu);
  void (*collect)(struct metrics *, void *) = r->collect;
  void *ctx = r->collect_ctx;
  pthread_mutex_unlock(&r->mu);
  if (collect) collect(r, ctx);
  static const char *const types[] = {"counter", "gauge", "histogram"};
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->nfams; i++) {
    const struct metric *m = r->fams[i];
    buf_printf(out, "# HELP %s ", m->name);
    put_escaped(out, m->help, 0);
    buf_printf(out, "\n# TYPE %s %s\n", m->name, types[m->type]);
    for (size_t k = 0; k < m->nseries; k++)
      if (!m->series[k].removed) put_series(out, m, &m->series[k]);
  }
  pthread_mutex_unlock(&r->mu);
}
