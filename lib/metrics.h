/* metrics.h: a service's Prometheus metrics (docs/metrics.md lists every one).
 *
 * - A registry holds metric families: counters, gauges and histograms, each with a fixed list
 *   of label names; a family's series are created on first use of their label values.
 * - metrics_write renders the registry in Prometheus's text exposition format (version 0.0.4):
 *   "# HELP" and "# TYPE" lines, then one line per series; label values escaped (\\, \", \n);
 *   histograms as cumulative _bucket{le="..."} lines ending with le="+Inf", then _sum and _count.
 * - metrics_serve (metrics_http.c) serves GET /metrics over HTTP (libmicrohttpd), adding the
 *   process basics (CPU, memory, file descriptors, start time) at each scrape.
 *
 * Each service counts in its I/O shell, never in a pure core. Every call here may be made from any
 * thread at once (one mutex per registry); a family pointer stays valid until metrics_free. A
 * series is found by hashing its label values, so updates cost a lock and a hash, no allocation
 * once the series exists. */
#ifndef BARGE_METRICS_H
#define BARGE_METRICS_H
#include <stddef.h>

#include "util.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_MAX_LABELS 4

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *r);
/* The process's registry (created on first use, never freed): what a service's endpoint serves. */
struct metrics *metrics_global(void);

/* Registers a family, or returns the one already registered under name (its type and labels must
 * be the same: a mismatch is a programming error and aborts). labels: comma-separated label names
 * ("queue,state"), NULL or "" for none. bounds: a histogram's bucket upper bounds, increasing (the
 * +Inf bucket is implied); copied. */
struct metric *metrics_counter(struct metrics *r, const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(struct metrics *r, const char *name, const char *help, const char *labels);
struct metric *metrics_histogram(struct metrics *r, const char *name, const char *help, const char *labels,
                                 const double *bounds, size_t nbounds);

/* Label values, in the order of the family's label names: METRIC_L("q1", "RUNNING"). NULL for a
 * family without labels. */
#define METRIC_L(...) ((const char *const[]){__VA_ARGS__})

/* Adds v to a counter (v >= 0) or a gauge. */
void metric_add(struct metric *m, const char *const *lv, double v);
/* Sets a gauge, or a counter to a cumulative total counted elsewhere (a core's statistics). */
void metric_set(struct metric *m, const char *const *lv, double v);
/* Records one observation in a histogram. */
void metric_observe(struct metric *m, const char *const *lv, double v);
/* Drops a series (a compute environment that is gone); no-op when absent. */
void metric_remove(struct metric *m, const char *const *lv);
/* A series' value (a histogram's count); 0 when absent. For tests and the services' own logs. */
double metric_value(struct metric *m, const char *const *lv);

/* Called at the start of every metrics_write, outside the registry's lock (to refresh gauges
 * read from elsewhere, such as /proc). One hook per registry; NULL removes it. */
void metrics_on_collect(struct metrics *r, void (*fn)(struct metrics *r, void *ctx), void *ctx);

/* Appends the exposition text of every family, in registration order (series in creation
 * order) to out. */
void metrics_write(struct metrics *r, struct buf *out);

/* A number as the exposition format writes it: a whole number below 1e15 in full, else the
 * shortest text that reads back as v; +Inf, -Inf, NaN. out holds at least 32 bytes. */
void metrics_format_value(double v, char *out, size_t n);

/* ---- the HTTP endpoint (metrics_http.c) ---- */

struct metrics_server;
/* Serves r at http://host:port/metrics (port 0: a free one) in a thread of its own, with the
 * process basics (process_*) refreshed at each scrape. addr receives "host:port" with the real
 * port. NULL with the reason in err. */
struct metrics_server *metrics_serve(struct metrics *r, const char *host, int port, char *addr, size_t addrlen,
                                     char *err, size_t errlen);
/* The same on a socket already bound and listening (inherited: `barge up` passes one); it is
 * closed with the server. */
struct metrics_server *metrics_serve_fd(struct metrics *r, int fd, char *addr, size_t addrlen, char *err,
                                        size_t errlen);
void metrics_server_stop(struct metrics_server *s);
/* Registers the process_* families in r and refreshes them from /proc/self. */
void metrics_process_collect(struct metrics *r, void *ctx);
#endif
