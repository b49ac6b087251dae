/* stack.h: where a local stack lives and how commands find it. `barge up` writes
 * $BARGE_HOME/stack (BARGE_HOME defaults to ~/.barge) with the broker address, topic prefix,
 * log directory and the PIDs it started; every other command reads it when no --brokers is
 * given. The file is "key=value" lines. */
#ifndef BARGE_STACK_H
#define BARGE_STACK_H
#include <stddef.h>

#include "util.h"

/* $BARGE_HOME or ~/.barge, into out. */
void stack_home(char *out, size_t n);
/* The value of key in $BARGE_HOME/stack, into out; 0 if found. */
int stack_get(const char *key, char *out, size_t n);
/* Writes the whole stack file from "key=value\n" text. */
int stack_write(const char *text) BARGE_WUR;
void stack_remove(void);
/* Whether pid runs: it exists and is not a zombie (a killed supervisor stays one until whoever
 * inherited it reaps it, which a subreaper may not do soon). */
int stack_pid_alive(long pid);
/* Whether pid runs `barge SERVICE ...` (stack_pid_alive, and /proc/PID/cmdline starts with "barge"
 * then service; any barge command when service is NULL), as the supervisor and the local driver
 * start the services: a recorded pid that another process has got since is not the service. */
int stack_pid_runs(long pid, const char *service);
/* Whether the stack's supervisor pid runs: stack_pid_alive, and $BARGE_HOME/up.lock is locked,
 * as the supervisor keeps it for its whole life (cmd/up.c). A stack file left by a supervisor
 * that ended without removing it (killed, the machine rebooted) may name a pid that another
 * process has since got: that one is not the supervisor. */
int stack_supervisor_alive(long pid);
/* The brokers to use: the flag, else $BARGE_BROKERS, else the stack file. 0 on success; else a
 * message saying there is no stack in $BARGE_HOME and what to do (a runtime condition, not bad
 * usage: callers exit 1, or 255 for the AWS Batch commands). */
int stack_brokers(const char *flag, char *out, size_t n, char *err, size_t errlen) BARGE_WUR;
/* The topic prefix: the flag, else $BARGE_TOPIC_PREFIX, else the stack's, else "barge.". */
void stack_prefix(const char *flag, char *out, size_t n);
/* 0 when every topic name made from prefix is one Kafka accepts (ASCII letters, digits, '.', '_'
 * and '-'; at most 100 characters); else -1 with err saying so and where the prefix came from
 * (flag: the one given on the command line, or NULL). A bad prefix is bad usage. */
int stack_prefix_check(const char *flag, const char *prefix, char *err, size_t errlen) BARGE_WUR;
/* 0 when brokers is a list librdkafka can take: comma-separated HOST or HOST:PORT (an IPv6
 * address in brackets, an optional PROTOCOL:// before it), each port a number 1 to 65535; else -1
 * with err saying which entry is wrong and where the list came from (flag as above, else
 * $BARGE_BROKERS, else the stack file). A bad list is bad usage, not a broker that is down. */
int stack_brokers_check(const char *flag, const char *brokers, char *err, size_t errlen) BARGE_WUR;

/* GET url ("http://127.0.0.1:PORT/metrics", as $BARGE_HOME/services has the services'
 * endpoints) within ms: the response (headers and body, NUL-terminated; free it), or NULL when
 * nothing answers in time. */
char *stack_metrics_get(const char *url, int ms);
/* The value of the series name (one without labels) in a metrics text; -1 when absent. */
double stack_metric_value(const char *text, const char *name);
/* Waits up to ms for every service of $BARGE_HOME/services that has a metrics endpoint to say
 * barge_service_ready 1 (an endpoint that does not answer is still starting; docs/metrics.md).
 * The number still starting then, their names comma-separated into waiting (n bytes). stop, if
 * not NULL, ends the wait early when it returns non-zero (Ctrl-C of a foreground `barge up`). */
int stack_wait_ready(int ms, char *waiting, size_t n, int (*stop)(void));
#endif
