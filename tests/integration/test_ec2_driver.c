/* test_ec2_driver.c: the ec2 driver (provisioner/driver_ec2.c) against a real EC2 emulator,
 * moto_server (started by the test from the pip package moto[server]), with signature checking switched on:
 * INITIAL_NO_AUTH_ACTION_COUNT=3 lets the first three calls (CreateUser, CreateAccessKey,
 * PutUserPolicy over IAM) through unauthenticated; every later call must carry a valid SigV4
 * signature for the created key.
 *
 * Checks: the SigV4 signer against AWS's published example and botocore-computed vectors; a
 * launch (RunInstances, on-demand and spot), the AMI a launch template names (not replaced by
 * --ec2-image-id) and its user data (merged with Barge's), polling more instances than one DescribeInstances takes, the user data that starts `barge agent`, the
 * instance tags; the user data run by sh with stand-ins, passing the agents' Kafka properties
 * (given, or read from a file on the instance); describe (DescribeInstances); terminate (TerminateInstances); a throttling
 * retry (tests/e2e/prov_ec2_proxy.py answers 503 RequestLimitExceeded twice, then forwards to
 * moto) and retries giving up; a wrong secret refused with AuthFailure and not retried.
 * The Kafka fixture is not used (the driver publishes nothing here). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "driver.h"
#include "sigv4.h"

static pid_t moto_pid, proxy_pids[4];
static int nproxies;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) return -1;
  close(fd);
  return ntohs(a.sin_port);
}

static int port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static int start_moto(int port) {
  char p[16];
  snprintf(p, sizeof p, "%d", port);
  moto_pid = fork();
  if (moto_pid == 0) {
    setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3", 1);
    int nul = open("/dev/null", O_WRONLY);
    if (nul >= 0) dup2(nul, 1), dup2(nul, 2);
    execlp("moto_server", "moto_server", "-H", "127.0.0.1", "-p", p, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 300; i++) { /* up to 30 s on a slow machine */
    if (port_open(port)) return 0;
    int st;
    if (waitpid(moto_pid, &st, WNOHANG) == moto_pid) {
      fprintf(stderr, "moto_server exited (status %d): install it with pip install 'moto[server]' (scripts/setup.sh)\n", st);
      moto_pid = 0;
      return -1;
    }
    usleep(100000);
  }
  return -1;
}

/* Starts the throttling proxy in front of moto; returns its port. */
static int start_proxy(int moto_port, int fail) {
  int in[2], out[2];
  if (pipe(in) || pipe(out)) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    char up[64], f[16], script[4096];
    snprintf(up, sizeof up, "http://127.0.0.1:%d", moto_port);
    snprintf(f, sizeof f, "%d", fail);
    const char *src = getenv("BARGE_SOURCE_DIR");
    snprintf(script, sizeof script, "%s/tests/e2e/prov_ec2_proxy.py", src ? src : ".");
    execlp("python3", "python3", script, "--upstream", up, "--fail", f, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  proxy_pids[nproxies++] = pid;
  FILE *r = fdopen(out[0], "r");
  int port = -1;
  if (!r || fscanf(r, "ready %d", &port) != 1) port = -1;
  /* in[1] stays open: the proxy lives until we exit */
  return port;
}

static void stop_children(void) {
  for (int i = 0; i < nproxies; i++) {
    kill(proxy_pids[i], SIGTERM);
    waitpid(proxy_pids[i], NULL, 0);
  }
  if (moto_pid > 0) {
    kill(moto_pid, SIGTERM);
    waitpid(moto_pid, NULL, 0);
  }
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
  buf_append(ctx, p, size * n);
  return size * n;
}

/* A signed Query API call (service iam or ec2) straight to moto, for setup and inspection. */
static long raw_call(int port, const char *service, const char *key, const char *secret, struct buf *form,
                     struct buf *resp) {
  char url[64], host[64], date[17], auth[1024], h[4][1100];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
  snprintf(host, sizeof host, "127.0.0.1:%d", port);
  sigv4_amz_date(now_ms(), date);
  struct sigv4_creds cr = {key, secret, NULL};
  const char *ct = "application/x-www-form-urlencoded; charset=utf-8";
  sigv4_sign(&cr, "us-east-1", service, "POST", host, "/", "", ct, form->data, form->len, date, auth, sizeof auth);
  snprintf(h[0], sizeof h[0], "Authorization: %s", auth);
  snprintf(h[1], sizeof h[1], "X-Amz-Date: %s", date);
  snprintf(h[2], sizeof h[2], "Content-Type: %s", ct);
  snprintf(h[3], sizeof h[3], "Host: %s", host);
  struct curl_slist *hl = NULL;
  for (int i = 0; i < 4; i++) hl = curl_slist_append(hl, h[i]);
  CURL *c = curl_easy_init();
  buf_reset(resp);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)form->data);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)form->len);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  curl_slist_free_all(hl);
  return code;
}

static void xml_value(const struct buf *b, const char *tag, char *out, size_t n) {
  char open[64], close[64];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  out[0] = 0;
  const char *a = b->data ? strstr((const char *)b->data, open) : NULL;
  const char *e = a ? strstr(a, close) : NULL;
  if (a && e) snprintf(out, n, "%.*s", (int)(e - a - strlen(open)), a + strlen(open));
}

/* An instance's user data (DescribeInstanceAttribute), decoded; NULL when there is none. */
static char *user_data_of(int port, const char *key, const char *secret, const char *id) {
  struct buf f, r;
  buf_init(&f);
  buf_init(&r);
  sigv4_form_add(&f, "Action", "DescribeInstanceAttribute");
  sigv4_form_add(&f, "Version", "2016-11-15");
  sigv4_form_add(&f, "InstanceId", id);
  sigv4_form_add(&f, "Attribute", "userData");
  char *ud = NULL, ud64[32768];
  if (raw_call(port, "ec2", key, secret, &f, &r) == 200) {
    xml_value(&r, "value", ud64, sizeof ud64);
    size_t n = 0;
    ud = (char *)base64_decode(ud64, strlen(ud64), &n); /* NUL-terminated */
  }
  buf_release(&f);
  buf_release(&r);
  return ud;
}

/* CreateLaunchTemplate: an AMI and user data, each optional (an instance type when neither). */
static long create_template(int port, const char *key, const char *secret, const char *name, const char *ami,
                            const char *user_data) {
  struct buf f, r;
  buf_init(&f);
  buf_init(&r);
  sigv4_form_add(&f, "Action", "CreateLaunchTemplate");
  sigv4_form_add(&f, "Version", "2016-11-15");
  sigv4_form_add(&f, "LaunchTemplateName", name);
  if (ami) sigv4_form_add(&f, "LaunchTemplateData.ImageId", ami);
  if (user_data) {
    char *ud64 = base64_encode(user_data, strlen(user_data), NULL);
    sigv4_form_add(&f, "LaunchTemplateData.UserData", ud64);
    free(ud64);
  }
  if (!ami && !user_data) sigv4_form_add(&f, "LaunchTemplateData.InstanceType", "c5.large");
  long code = raw_call(port, "ec2", key, secret, &f, &r);
  buf_release(&f);
  buf_release(&r);
  return code;
}

static void test_sigv4(void) {
  TEST("SigV4: AWS's published example and botocore vectors");
  struct sigv4_creds cr = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
  char auth[1024];
  sigv4_sign(&cr, "us-east-1", "iam", "GET", "iam.amazonaws.com", "/", "Version=2010-05-08&Action=ListUsers",
             "application/x-www-form-urlencoded; charset=utf-8", "", 0, "20150830T123600Z", auth, sizeof auth);
  CHECK_STR(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                  "SignedHeaders=content-type;host;x-amz-date, "
                  "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
  struct sigv4_creds c2 = {"AKIAEXAMPLE", "secret/key+1", NULL};
  const char *body = "Action=DescribeInstances&Version=2016-11-15";
  sigv4_sign(&c2, "us-east-1", "ec2", "POST", "127.0.0.1:4566", "/", "", "application/x-www-form-urlencoded; charset=utf-8",
             body, strlen(body), "20240102T030405Z", auth, sizeof auth);
  CHECK(strstr(auth, "Signature=5b260e36f10d6f14eec6b1394bb52877dfbda166834bee956dc4c2f9e1a46022") != NULL, "%s", auth);
  struct sigv4_creds c3 = {"AKIAEXAMPLE", "secret/key+1", "tok/en=="};
  sigv4_sign(&c3, "us-east-1", "ec2", "POST", "127.0.0.1:4566", "/", "", "application/x-www-form-urlencoded; charset=utf-8",
             body, strlen(body), "20240102T030405Z", auth, sizeof auth);
  CHECK(strstr(auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                     "Signature=d45513b575d1221e30efeebc48c4bfa64dd8b696c6cb3d741467331fb507f065") != NULL, "%s", auth);
  char date[17];
  sigv4_amz_date(1440938160000LL, date);
  CHECK_STR(date, "20150830T123600Z");
  struct buf f;
  buf_init(&f);
  sigv4_form_add(&f, "A b", "x/y+z=~");
  CHECK_STR((char *)f.data, "A%20b=x%2Fy%2Bz%3D~");
  buf_release(&f);
}

/* Writes text to path (mode). 0 or -1. */
static int put_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  int bad = fputs(text, f) < 0;
  bad |= fclose(f) != 0;
  return bad || chmod(path, mode) ? -1 : 0;
}

/* Runs the user data driver_ec2_user_data writes for kafka_props with sh, as cloud-init would,
 * with stand-ins on PATH for the instance metadata (curl answers an instance id and a private
 * address), the container
 * engine (podman) and `barge`, which writes its arguments one per line to dir/argv. The exit
 * status; dir/argv and dir/err (stderr) hold the rest. */
static double ud_retention; /* the agents' --log-retention-hours in run_user_data (0: none) */
static int run_user_data(const char *dir, const char *kafka_props, long long log_port, const char *log_token,
                         const char *tls_cert) {
  struct driver_conf dc;
  driver_conf_defaults(&dc);
  dc.ec2_agent_brokers = "kafka.example:9092";
  dc.bus.prefix = "t.";
  dc.ec2_agent_kafka_props = kafka_props;
  dc.ec2_agent_log_port = log_port;
  dc.ec2_agent_log_token = log_token;
  dc.ec2_agent_log_tls_cert = tls_cert;
  dc.ec2_agent_log_tls_key = tls_cert ? "/etc/barge/log.key" : NULL;
  dc.agent_log_retention_h = ud_retention;
  const struct catalog_type *t = catalog_find(catalog_default(), "c5.large");
  struct driver_launch req = {"ce-ec2", t, catalog_sched_mem(catalog_default(), t), 1, 0, 0, NULL};
  char *ud = driver_ec2_user_data(&dc, &req);
  char path[512], cmd[1400];
  snprintf(path, sizeof path, "%s/user-data", dir);
  int bad = put_file(path, ud, 0755);
  free(ud);
  snprintf(path, sizeof path, "%s/bin/curl", dir);
  bad |= put_file(path,
                  "#!/bin/sh\ncase \"$*\" in *instance-id*) echo i-0123456789abcdef0;; *local-ipv4*) echo 10.0.3.7;;\n"
                  "*api/token*) echo token;; *) exit 22;; esac\n",
                  0755);
  snprintf(path, sizeof path, "%s/bin/podman", dir);
  bad |= put_file(path, "#!/bin/sh\nexit 0\n", 0755);
  snprintf(path, sizeof path, "%s/bin/barge", dir);
  snprintf(cmd, sizeof cmd, "#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s/argv'\n", dir);
  bad |= put_file(path, cmd, 0755);
  if (bad) return -1;
  snprintf(cmd, sizeof cmd, "rm -f '%s/argv'; PATH='%s/bin':/usr/bin:/bin sh '%s/user-data' 2>'%s/err'", dir, dir, dir,
           dir);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The line after `flag` in dir/argv, into out ("" when none). */
static void arg_after(const char *dir, const char *flag, char *out, size_t n) {
  char path[512], line[1024];
  int next = 0;
  snprintf(path, sizeof path, "%s/argv", dir);
  out[0] = 0;
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (next) {
      snprintf(out, n, "%s", line);
      break;
    }
    next = !strcmp(line, flag);
  }
  if (f) fclose(f);
}

/* The agents the user data starts get the operator's Kafka properties: written in, or read from a
 * file on the instance (a missing file stops the bootstrap, saying which); none by default. */
static void test_user_data(void) {
  TEST("user data: the agents' --kafka-props, given or read from a file on the instance");
  char dir[] = "/tmp/barge-ec2-ud-XXXXXX", path[512], v[1024], err[1024];
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp: %s", strerror(errno));
    return;
  }
  snprintf(path, sizeof path, "%s/bin", dir);
  mkdir(path, 0755);
  const char *lit = "security.protocol=SASL_SSL,sasl.mechanism=PLAIN,sasl.username=agent,sasl.password=it's $x";
  CHECK_INT(run_user_data(dir, lit, 0, NULL, NULL), 0);
  arg_after(dir, "--kafka-props", v, sizeof v);
  CHECK(!strcmp(v, lit), "the agent got --kafka-props exactly as given (quotes, $ kept): '%s'", v);
  arg_after(dir, "--instance-id", v, sizeof v);
  CHECK_STR(v, "i-0123456789abcdef0");
  arg_after(dir, "--brokers", v, sizeof v);
  CHECK_STR(v, "kafka.example:9092");

  snprintf(path, sizeof path, "%s/agent props", dir); /* a space in the path */
  CHECK_INT(put_file(path, "security.protocol=SSL,ssl.ca.location=/etc/barge/ca.pem\n", 0600), 0);
  char at[600];
  snprintf(at, sizeof at, "@%s", path);
  CHECK_INT(run_user_data(dir, at, 0, NULL, NULL), 0);
  arg_after(dir, "--kafka-props", v, sizeof v);
  CHECK(!strcmp(v, "security.protocol=SSL,ssl.ca.location=/etc/barge/ca.pem"), "@PATH: read on the instance: '%s'", v);
  unlink(path);
  CHECK_INT(run_user_data(dir, at, 0, NULL, NULL), 1);
  snprintf(path, sizeof path, "%s/err", dir);
  FILE *f = fopen(path, "r");
  size_t got = f ? fread(err, 1, sizeof err - 1, f) : 0;
  err[got] = 0;
  if (f) fclose(f);
  snprintf(path, sizeof path, "%s/argv", dir);
  CHECK(strstr(err, "no readable file") && strstr(err, "agent props") && access(path, F_OK) != 0,
        "@PATH missing: the bootstrap stops, naming the file, no agent started: %s", err);

  CHECK_INT(run_user_data(dir, NULL, 0, NULL, NULL), 0);
  arg_after(dir, "--topic-prefix", v, sizeof v);
  CHECK_STR(v, "t.");
  arg_after(dir, "--kafka-props", v, sizeof v);
  CHECK(v[0] == 0, "no --kafka-props by default: '%s'", v);
  arg_after(dir, "--log-listen", v, sizeof v);
  CHECK(v[0] == 0, "no log server by default: '%s'", v);
  arg_after(dir, "--log-retention-hours", v, sizeof v);
  CHECK(v[0] == 0, "no log retention by default (every log kept): '%s'", v);

  TEST("user data: the instance's private address; its log server when asked for");
  arg_after(dir, "--address", v, sizeof v);
  CHECK(!strcmp(v, "10.0.3.7"), "--address: the private IPv4 of the instance metadata (multi-node jobs): '%s'", v);
  CHECK_INT(run_user_data(dir, NULL, 8785, "/etc/barge/log.token", NULL), 0);
  arg_after(dir, "--log-listen", v, sizeof v);
  CHECK_STR(v, "0.0.0.0:8785");
  arg_after(dir, "--log-url", v, sizeof v);
  CHECK_STR(v, "http://10.0.3.7:8785");
  arg_after(dir, "--log-token-file", v, sizeof v);
  CHECK_STR(v, "/etc/barge/log.token");
  arg_after(dir, "--log-tls-cert", v, sizeof v);
  CHECK(v[0] == 0, "plain HTTP unless a certificate is given: '%s'", v);
  CHECK_INT(run_user_data(dir, NULL, 8785, "/etc/barge/log.token", "/etc/barge/log.crt"), 0);
  arg_after(dir, "--log-url", v, sizeof v);
  CHECK_STR(v, "https://10.0.3.7:8785");
  arg_after(dir, "--log-tls-cert", v, sizeof v);
  CHECK_STR(v, "/etc/barge/log.crt");
  arg_after(dir, "--log-tls-key", v, sizeof v);
  CHECK_STR(v, "/etc/barge/log.key");
  ud_retention = 36.5; /* --agent-log-retention-hours */
  CHECK_INT(run_user_data(dir, NULL, 0, NULL, NULL), 0);
  ud_retention = 0;
  arg_after(dir, "--log-retention-hours", v, sizeof v);
  CHECK_STR(v, "36.5");
  struct driver_conf dc;
  driver_conf_defaults(&dc);
  dc.cat = catalog_default();
  dc.ec2_agent_log_port = 8785;
  struct driver *d = driver_ec2_new(&dc, err, sizeof err);
  CHECK(!d && strstr(err, "--ec2-agent-log-token-file"), "a log port without a token file is refused, saying what to add: %s",
        d ? "(started)" : err);
  if (d) driver_free(d);
  dc.ec2_agent_log_token = "/etc/barge/log.token";
  dc.ec2_agent_log_tls_cert = "/etc/barge/log.crt";
  d = driver_ec2_new(&dc, err, sizeof err);
  CHECK(!d && strstr(err, "--ec2-agent-log-tls-key"), "a certificate without its key is refused: %s", d ? "(started)" : err);
  if (d) driver_free(d);
  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  if (system(path)) fprintf(stderr, "could not remove %s\n", dir);
}

static struct driver *ec2_driver(const char *endpoint, const char *key, const char *secret, long long retries) {
  struct driver_conf dc;
  driver_conf_defaults(&dc);
  dc.cat = catalog_default();
  dc.source = "test";
  dc.bus.brokers = NULL; /* nothing published here */
  dc.ec2_agent_brokers = "kafka.example:9092";
  dc.bus.prefix = "t.";
  dc.ec2_endpoint = endpoint;
  dc.ec2_region = "us-east-1";
  dc.ec2_access_key = key;
  dc.ec2_secret_key = secret;
  dc.ec2_image_id = "ami-12c6146b";
  dc.ec2_max_retries = retries;
  dc.ec2_backoff_ms = 50;
  char err[512];
  struct driver *d = driver_ec2_new(&dc, err, sizeof err);
  CHECK(d != NULL, "driver: %s", err);
  return d;
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (codec_init((char[256]){0}, 256)) return 1;
  test_sigv4();
  test_user_data();
  int port = free_port();
  TEST("moto_server with signature checking");
  if (port < 0 || start_moto(port)) {
    CHECK(0, "moto_server did not start on port %d", port);
    stop_children();
    return check_summary();
  }
  /* the three unauthenticated calls: a user, its key, and a policy allowing EC2 */
  struct buf f, r;
  buf_init(&f);
  buf_init(&r);
  sigv4_form_add(&f, "Action", "CreateUser");
  sigv4_form_add(&f, "Version", "2010-05-08");
  sigv4_form_add(&f, "UserName", "barge");
  CHECK_INT(raw_call(port, "iam", "AKIDSETUP", "setup", &f, &r), 200);
  buf_reset(&f);
  sigv4_form_add(&f, "Action", "CreateAccessKey");
  sigv4_form_add(&f, "Version", "2010-05-08");
  sigv4_form_add(&f, "UserName", "barge");
  CHECK_INT(raw_call(port, "iam", "AKIDSETUP", "setup", &f, &r), 200);
  char key[128], secret[128];
  xml_value(&r, "AccessKeyId", key, sizeof key);
  xml_value(&r, "SecretAccessKey", secret, sizeof secret);
  CHECK(key[0] && secret[0], "an access key: %s", key);
  buf_reset(&f);
  sigv4_form_add(&f, "Action", "PutUserPolicy");
  sigv4_form_add(&f, "Version", "2010-05-08");
  sigv4_form_add(&f, "UserName", "barge");
  sigv4_form_add(&f, "PolicyName", "ec2");
  sigv4_form_add(&f, "PolicyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ec2:*\",\"Resource\":\"*\"}]}");
  CHECK_INT(raw_call(port, "iam", "AKIDSETUP", "setup", &f, &r), 200);

  char endpoint[64], err[1024];
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
  struct driver *d = ec2_driver(endpoint, key, secret, 2);
  if (!d) {
    stop_children();
    return check_summary();
  }

  TEST("launch: RunInstances with user data that starts barge agent, and tags");
  json_t *ce_body = json_pack("{s:s, s:{s:s, s:{s:s}, s:s}}", "computeEnvironmentName", "ce-ec2", "computeResources",
                              "type", "EC2", "tags", "team", "research", "passthroughJson", "{}");
  const struct catalog_type *t = catalog_find(catalog_default(), "c5.large");
  struct driver_launch req = {"ce-ec2", t, catalog_sched_mem(catalog_default(), t), 2, 0, 0, ce_body};
  char ids[4][32];
  int n = 0;
  int rc = d->ops->launch(d, &req, ids, &n, err, sizeof err);
  CHECK(rc == 0 && n == 2, "launched %d: %s", n, rc ? err : "");
  CHECK(n >= 1 && !strncmp(ids[0], "i-", 2), "instance id %s", n ? ids[0] : "");
  if (n >= 1) {
    char *ud = user_data_of(port, key, secret, ids[0]);
    int len = ud ? (int)strlen(ud) : 0;
    CHECK(len > 0 && strstr((char *)ud, "exec barge agent --brokers 'kafka.example:9092'") &&
              strstr((char *)ud, "--compute-environment 'ce-ec2'") && strstr((char *)ud, "--instance-type 'c5.large'") &&
              strstr((char *)ud, "--vcpus 2 --memory 4064") && strstr((char *)ud, "--driver ec2"),
          "user data starts the agent: %s", ud);
    CHECK(strstr((char *)ud, "--runtime 'auto'") && strstr((char *)ud, "apt-get install -y -q podman runc"),
          "user data installs a container engine and starts the agent with it (docs/containers.md): %s", ud);
    free(ud);
    buf_reset(&f);
    sigv4_form_add(&f, "Action", "DescribeInstances");
    sigv4_form_add(&f, "Version", "2016-11-15");
    sigv4_form_add(&f, "InstanceId.1", ids[0]);
    CHECK_INT(raw_call(port, "ec2", key, secret, &f, &r), 200);
    CHECK(r.data && strstr((char *)r.data, "barge:compute-environment") && strstr((char *)r.data, "research") &&
              strstr((char *)r.data, "<key>barge:deployment</key>") && strstr((char *)r.data, "kafka.example:9092/t.") &&
              strstr((char *)r.data, "<instanceType>c5.large</instanceType>"),
          "tags and type on the instance");
  }

  TEST("list: this deployment's live instances, with their CE and type");
  {
    struct driver_instance *li = NULL;
    size_t ln = 0;
    rc = d->ops->list(d, &li, &ln, err, sizeof err);
    int found = 0;
    for (size_t i = 0; rc == 0 && i < ln; i++)
      found += n >= 2 && (!strcmp(li[i].id, ids[0]) || !strcmp(li[i].id, ids[1])) && !strcmp(li[i].ce, "ce-ec2") &&
               li[i].type == t && !li[i].spot;
    CHECK(rc == 0 && ln == 2 && found == 2, "listed %zu, %d of the 2 launched: %s", ln, found, rc ? err : "");
    free(li);
  }

  TEST("spot launch with a price ceiling");
  struct driver_launch sreq = {"ce-ec2", t, catalog_sched_mem(catalog_default(), t), 1, 1, t->od_price, ce_body};
  char sids[1][32];
  int sn = 0;
  rc = d->ops->launch(d, &sreq, sids, &sn, err, sizeof err);
  CHECK(rc == 0 && sn == 1, "spot launch: %s", rc ? err : "");

  TEST("a launch template: its AMI and user data kept (not replaced by --ec2-image-id and Barge's bootstrap); the CE's imageId wins");
  {
    static const char tmpl_ud[] = "#!/bin/sh\necho template-user-data-ran > /tmp/mark\n";
    CHECK_INT(create_template(port, key, secret, "barge-lt", "ami-03cf127a", NULL), 200);
    CHECK_INT(create_template(port, key, secret, "barge-lt-no-ami", NULL, NULL), 200);
    CHECK_INT(create_template(port, key, secret, "barge-lt-ud", "ami-03cf127a", tmpl_ud), 200);
    static const struct {
      const char *pass, *ami, *what;
    } cases[] = {
        {"{\"launchTemplate\":{\"launchTemplateName\":\"barge-lt-ud\"}}", "ami-03cf127a",
         "the template's AMI, with its user data"},
        {"{\"launchTemplate\":{\"launchTemplateName\":\"barge-lt\"}}", "ami-03cf127a", "the template's AMI"},
        {"{\"launchTemplate\":{\"launchTemplateName\":\"barge-lt\",\"version\":\"$Latest\"}}", "ami-03cf127a",
         "the template's AMI ($Latest)"},
        {"{\"launchTemplate\":{\"launchTemplateName\":\"barge-lt-no-ami\"}}", "ami-12c6146b",
         "--ec2-image-id, the template naming no AMI"},
        {"{\"imageId\":\"ami-1812c061\",\"launchTemplate\":{\"launchTemplateName\":\"barge-lt\"}}", "ami-1812c061",
         "the CE's imageId over the template's"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
      json_t *lt_body = json_pack("{s:s, s:{s:s, s:s}}", "computeEnvironmentName", "ce-lt", "computeResources", "type",
                                  "EC2", "passthroughJson", cases[i].pass);
      struct driver_launch lreq = {"ce-lt", t, catalog_sched_mem(catalog_default(), t), 1, 0, 0, lt_body};
      char lids[1][32];
      int ln = 0;
      rc = d->ops->launch(d, &lreq, lids, &ln, err, sizeof err);
      CHECK(rc == 0 && ln == 1, "launch with %s: %s", cases[i].pass, rc ? err : "");
      char ami[64] = "";
      if (ln == 1) {
        buf_reset(&f);
        sigv4_form_add(&f, "Action", "DescribeInstances");
        sigv4_form_add(&f, "Version", "2016-11-15");
        sigv4_form_add(&f, "InstanceId.1", lids[0]);
        CHECK_INT(raw_call(port, "ec2", key, secret, &f, &r), 200);
        xml_value(&r, "imageId", ami, sizeof ami);
        char *ud = user_data_of(port, key, secret, lids[0]);
        const char *tpart = ud ? strstr(ud, "echo template-user-data-ran") : NULL, *bpart = ud ? strstr(ud, "exec barge agent") : NULL;
        if (strstr(cases[i].pass, "barge-lt-ud"))
          CHECK(ud && !strncmp(ud, "Content-Type: multipart/mixed; boundary=", 40) && tpart && bpart && tpart < bpart &&
                    strstr(bpart, "--\n") && strstr(ud, "Content-Type: text/x-shellscript"),
                "the template's user data runs, then Barge's bootstrap (one MIME multi-part document): %s", ud ? ud : "");
        else
          CHECK(ud && !strncmp(ud, "#!/bin/sh", 9) && bpart, "a template without user data: Barge's bootstrap alone: %.60s",
                ud ? ud : "");
        free(ud);
        d->ops->terminate(d, lids[0], err, sizeof err);
      }
      CHECK(!strcmp(ami, cases[i].ami), "%s: %s launched from %s", cases[i].what, cases[i].ami, ami);
      json_decref(lt_body);
    }
  }

  TEST("describe and terminate");
  const char *q[3] = {ids[0], ids[1], "i-00000000000000000"};
  enum driver_state st[3];
  rc = d->ops->describe(d, q, 3, st, err, sizeof err);
  CHECK(rc == 0, "describe: %s", err);
  CHECK(st[0] == DRV_RUNNING || st[0] == DRV_PENDING, "first instance running (%d)", st[0]);
  CHECK(st[1] == DRV_RUNNING || st[1] == DRV_PENDING, "second instance running (%d)", st[1]);
  rc = d->ops->terminate(d, ids[0], err, sizeof err);
  CHECK(rc == 0, "terminate: %s", err);
  rc = d->ops->describe(d, q, 2, st, err, sizeof err);
  CHECK(rc == 0 && st[0] == DRV_GONE && (st[1] == DRV_RUNNING || st[1] == DRV_PENDING),
        "terminated one, the other runs (%d, %d): %s", st[0], st[1], rc ? err : "");
  CHECK_INT(driver_ec2_retries(d), 0);
  driver_free(d);

  TEST("poll: every launched instance is watched, beyond the 200 one DescribeInstances call takes");
  {
    struct driver *pd = ec2_driver(endpoint, key, secret, 2);
    struct driver_launch breq = {"ce-ec2", t, catalog_sched_mem(catalog_default(), t), 205, 0, 0, ce_body};
    char(*bids)[32] = xcalloc(205, sizeof *bids);
    int bn = 0;
    rc = pd->ops->launch(pd, &breq, bids, &bn, err, sizeof err);
    CHECK(rc == 0 && bn == 205, "launched %d of 205: %s", bn, rc ? err : "");
    CHECK_INT((long long)driver_ec2_tracked(pd), 205);
    if (bn == 205) { /* EC2 ends two behind the driver's back (a spot reclaim): the first and the last */
      buf_reset(&f);
      sigv4_form_add(&f, "Action", "TerminateInstances");
      sigv4_form_add(&f, "Version", "2016-11-15");
      sigv4_form_add(&f, "InstanceId.1", bids[0]);
      sigv4_form_add(&f, "InstanceId.2", bids[204]);
      CHECK_INT(raw_call(port, "ec2", key, secret, &f, &r), 200);
    }
    CHECK(pd->ops->poll(pd, err, sizeof err) == 0, "poll: %s", err);
    CHECK(driver_ec2_tracked(pd) == 203, "both seen gone and no longer watched: %zu of 205 still watched",
          driver_ec2_tracked(pd));
    free(bids);
    driver_free(pd);
  }

  TEST("throttling: 503 RequestLimitExceeded twice, then success");
  int pport = start_proxy(port, 2);
  CHECK(pport > 0, "proxy started");
  if (pport > 0) {
    char pend[64];
    snprintf(pend, sizeof pend, "http://127.0.0.1:%d/", pport);
    d = ec2_driver(pend, key, secret, 6);
    rc = d->ops->describe(d, q, 2, st, err, sizeof err);
    CHECK(rc == 0, "describe through the throttling proxy: %s", rc ? err : "");
    CHECK_INT(driver_ec2_retries(d), 2);
    CHECK(rc == 0 && st[1] != DRV_UNKNOWN, "and its answer (%d)", st[1]);
    driver_free(d);
  }
  int pport2 = start_proxy(port, 100);
  if (pport2 > 0) {
    char pend[64];
    snprintf(pend, sizeof pend, "http://127.0.0.1:%d", pport2);
    d = ec2_driver(pend, key, secret, 2);
    rc = d->ops->terminate(d, ids[1], err, sizeof err);
    CHECK(rc != 0 && strstr(err, "RequestLimitExceeded"), "gives up after its retries: %s", err);
    CHECK_INT(driver_ec2_retries(d), 2);
    driver_free(d);
  }

  TEST("a wrong secret is refused (AuthFailure) and not retried");
  d = ec2_driver(endpoint, key, "wrong-secret", 6);
  n = 0;
  rc = d->ops->launch(d, &req, ids, &n, err, sizeof err);
  CHECK(rc != 0 && n == 0 && strstr(err, "AuthFailure"), "refused: %s", err);
  CHECK_INT(driver_ec2_retries(d), 0);
  driver_free(d);
  d = ec2_driver(endpoint, "AKIAUNKNOWNKEY000000", secret, 6);
  rc = d->ops->describe(d, q, 1, st, err, sizeof err);
  CHECK(rc != 0, "an unknown key is refused too: %s", err);
  driver_free(d);

  json_decref(ce_body);
  buf_release(&f);
  buf_release(&r);
  stop_children();
  return check_summary();
}
