/* driver_ec2.c: the `ec2` driver: the EC2 Query API (version 2016-11-15) over libcurl, signed
 * with SigV4 (sigv4.c) (driver.h).
 *
 *   launch     RunInstances, MinCount = MaxCount = N (all or nothing), the CE's imageId, else its
 *              launch template's AMI (DescribeLaunchTemplateVersions), else --ec2-image-id; the
 *              template's user data merged before Barge's (MIME multi-part); the CE's tags plus
 *              barge:compute-environment, spot market options with the bid ceiling, and user data
 *              that starts `barge agent` for the CE on the new instance;
 *   terminate  TerminateInstances;  describe  DescribeInstances;
 *   list       DescribeInstances of this deployment's pending and running instances (the
 *              barge:deployment tag every launch carries: the agents' brokers and topic prefix);
 *   poll       every --ec2-poll-ms, DescribeInstances of the instances it launched (and, after a
 *              restart, of those the core knows again: watch): one that EC2 stopped or terminated
 *              on its own (a spot reclaim) is reported TERMINATED.
 *
 * Throttling (HTTP 503, RequestLimitExceeded, Throttling, ServiceUnavailable, InternalError) and
 * transport errors are retried with exponential backoff and jitter, up to --ec2-max-retries;
 * anything else (AuthFailure, InvalidParameterValue, InsufficientInstanceCapacity, ...) is
 * returned at once with EC2's code and message. Credentials come from the options or
 * $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "driver.h"
#include "sigv4.h"

#define EC2_VERSION "2016-11-15"
#define MAX_RESPONSE (16u << 20)

struct ec2 {
  struct bus_producer *prod; /* for TERMINATED found by poll; NULL without brokers */
  char endpoint[512], host[256], region[64];
  char access_key[256], secret_key[256], session_token[2048];
  long long retries;
  int64_t next_poll;
  struct launched {
    char id[32];
    char *ce;
    int type, spot;
  } *live;
  size_t nlive, caplive;
  uint64_t rng;
};

static const char *env_or(const char *v, const char *env, const char *def) {
  if (v && *v) return v;
  const char *e = env ? getenv(env) : NULL;
  return e && *e ? e : def;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
  struct buf *b = ctx;
  if (b->len + size * n > MAX_RESPONSE) return 0;
  buf_append(b, p, size * n);
  return size * n;
}

/* The text of the first <tag>...</tag> at or after p into out; returns the position after it, or
 * NULL. */
static const char *xml_get(const char *p, const char *tag, char *out, size_t n) {
  char open[64], close[64];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  const char *a = p ? strstr(p, open) : NULL;
  if (!a) return NULL;
  a += strlen(open);
  const char *b = strstr(a, close);
  if (!b) return NULL;
  snprintf(out, n, "%.*s", (int)(b - a), a);
  return b + strlen(close);
}

static int retryable(long http, const char *code) {
  if (http == 503 || http == 500 || http == 502 || http == 504) return 1;
  static const char *const codes[] = {"RequestLimitExceeded", "Throttling", "ThrottlingException",
                                      "ServiceUnavailable", "Unavailable", "InternalError", NULL};
  for (const char *const *c = codes; *c; c++)
    if (!strcmp(code, *c)) return 1;
  return 0;
}

static double jitter(struct ec2 *e) {
  e->rng ^= e->rng << 13;
  e->rng ^= e->rng >> 7;
  e->rng ^= e->rng << 17;
  return (double)(e->rng % 1000) / 1000.0;
}

/* One signed Query API call with retries. 0 with the response body in resp; else err holds
 * "Code: message" (EC2's error) or the transport failure. */
static int ec2_call(struct driver *d, struct buf *form, struct buf *resp, char *err, size_t errlen) {
  struct ec2 *e = d->impl;
  if (!e->access_key[0] || !e->secret_key[0]) {
    snprintf(err, errlen, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or --ec2-access-key/--ec2-secret-key)");
    return -1;
  }
  struct sigv4_creds cr = {e->access_key, e->secret_key, e->session_token[0] ? e->session_token : NULL};
  const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
  for (long long attempt = 0;; attempt++) {
    char date[17], auth[1024], h_auth[1100], h_date[64], h_host[300], h_token[2100];
    sigv4_amz_date(now_ms(), date);
    sigv4_sign(&cr, e->region, "ec2", "POST", e->host, "/", "", ctype, form->data, form->len, date, auth, sizeof auth);
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", auth);
    snprintf(h_date, sizeof h_date, "X-Amz-Date: %s", date);
    snprintf(h_host, sizeof h_host, "Host: %s", e->host);
    struct curl_slist *hl = NULL;
    hl = curl_slist_append(hl, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
    hl = curl_slist_append(hl, h_host);
    hl = curl_slist_append(hl, h_date);
    hl = curl_slist_append(hl, h_auth);
    if (cr.session_token) {
      snprintf(h_token, sizeof h_token, "X-Amz-Security-Token: %s", cr.session_token);
      hl = curl_slist_append(hl, h_token);
    }
    hl = curl_slist_append(hl, "Expect:");
    CURL *c = curl_easy_init();
    buf_reset(resp);
    curl_easy_setopt(c, CURLOPT_URL, e->endpoint);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form->data ? (char *)form->data : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)form->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "barge-provisioner/0.1");
    CURLcode cc = curl_easy_perform(c);
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    char code[128] = "", msg[512] = "";
    int again;
    if (cc != CURLE_OK) {
      snprintf(err, errlen, "%s: %s", e->endpoint, curl_easy_strerror(cc));
      again = 1;
    } else if (http >= 200 && http < 300) {
      return 0;
    } else {
      const char *body = resp->data ? (const char *)resp->data : "";
      xml_get(body, "Code", code, sizeof code);
      xml_get(body, "Message", msg, sizeof msg);
      snprintf(err, errlen, "%s: %s (HTTP %ld)", code[0] ? code : "HTTPError", msg[0] ? msg : "no message", http);
      again = retryable(http, code);
    }
    if (!again || attempt >= d->conf.ec2_max_retries) return -1;
    e->retries++;
    double ms = (double)d->conf.ec2_backoff_ms * (double)(1LL << (attempt < 20 ? attempt : 20));
    ms *= 0.5 + jitter(e); /* 0.5x .. 1.5x */
    log_warn("ec2: %s; retry %lld in %.0f ms", err, attempt + 1, ms);
    usleep((useconds_t)(ms * 1000));
  }
}

/* ---- user data ---- */

static void sh_quote(struct buf *b, const char *s) {
  buf_append(b, "'", 1);
  for (; s && *s; s++) {
    if (*s == '\'') buf_printf(b, "'\\''");
    else buf_append(b, s, 1);
  }
  buf_append(b, "'", 1);
}

char *driver_ec2_user_data(const struct driver_conf *conf, const struct driver_launch *req) {
  struct buf b;
  buf_init(&b);
  buf_printf(&b, "#!/bin/sh\n# Barge agent bootstrap, written by the Barge provisioner (ec2 driver).\n"
                 "TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')\n"
                 "ID=$(curl -sf -H \"X-aws-ec2-metadata-token: $TOKEN\" http://169.254.169.254/latest/meta-data/instance-id)\n"
                 "# the private address other instances reach this one at (a multi-node job's main node, the log server)\n"
                 "IP=$(curl -sf -H \"X-aws-ec2-metadata-token: $TOKEN\" http://169.254.169.254/latest/meta-data/local-ipv4) ||\n"
                 "  IP=$(hostname -I | cut -d' ' -f1)\n"
                 "# a container engine for the agent (docs/containers.md): podman with runc unless one is there\n"
                 "command -v podman >/dev/null 2>&1 || command -v docker >/dev/null 2>&1 ||\n"
                 "  { (apt-get update -q && apt-get install -y -q podman runc) || dnf install -y podman || yum install -y podman; }\n");
  const char *kp = conf->ec2_agent_kafka_props;
  int from_file = kp && kp[0] == '@' && kp[1]; /* a file on the instance (its AMI or launch template puts it there) */
  if (from_file) {
    buf_printf(&b, "[ -r ");
    sh_quote(&b, kp + 1);
    buf_printf(&b, " ] || { echo 'barge: no readable file '");
    sh_quote(&b, kp + 1);
    buf_printf(&b, "' for the agent'\\''s --kafka-props (barge provisioner --ec2-agent-kafka-props)' >&2; exit 1; }\n");
  }
  buf_printf(&b, "exec barge agent --brokers ");
  sh_quote(&b, conf->ec2_agent_brokers && *conf->ec2_agent_brokers ? conf->ec2_agent_brokers : conf->bus.brokers);
  if (from_file) {
    buf_printf(&b, " --kafka-props \"$(cat ");
    sh_quote(&b, kp + 1);
    buf_printf(&b, ")\"");
  }
  else if (kp && *kp) {
    buf_printf(&b, " --kafka-props ");
    sh_quote(&b, kp);
  }
  buf_printf(&b, " ${IP:+--address \"$IP\"}");
  if (conf->ec2_agent_log_port > 0) {
    int tls = conf->ec2_agent_log_tls_cert && *conf->ec2_agent_log_tls_cert;
    buf_printf(&b, " --log-listen 0.0.0.0:%lld --log-url \"%s://$IP:%lld\" --log-token-file ", conf->ec2_agent_log_port,
               tls ? "https" : "http", conf->ec2_agent_log_port);
    sh_quote(&b, conf->ec2_agent_log_token);
    if (tls) {
      buf_printf(&b, " --log-tls-cert ");
      sh_quote(&b, conf->ec2_agent_log_tls_cert);
      buf_printf(&b, " --log-tls-key ");
      sh_quote(&b, conf->ec2_agent_log_tls_key);
    }
  }
  buf_printf(&b, " --topic-prefix ");
  sh_quote(&b, conf->bus.prefix ? conf->bus.prefix : "barge.");
  buf_printf(&b, " --compute-environment ");
  sh_quote(&b, req->ce);
  buf_printf(&b, " --instance-id \"$ID\" --instance-type ");
  sh_quote(&b, req->type->name);
  buf_printf(&b, " --vcpus %d --memory %d --gpus %d --driver ec2 --heartbeat-ms %lld --runtime ", req->type->vcpus,
             req->sched_mem_mib, req->type->gpus, conf->agent_heartbeat_ms);
  sh_quote(&b, conf->agent_runtime ? conf->agent_runtime : "auto");
  if (conf->agent_fence_ms > 0) buf_printf(&b, " --fence-after-ms %lld", conf->agent_fence_ms);
  if (conf->agent_log_retention_h > 0) buf_printf(&b, " --log-retention-hours %.17g", conf->agent_log_retention_h);
  buf_printf(&b, "\n");
  return (char *)b.data;
}

/* ---- operations ---- */

static void track(struct ec2 *e, const char *id, const char *ce, int type, int spot) {
  if (e->nlive == e->caplive) {
    e->caplive = e->caplive ? e->caplive * 2 : 64;
    e->live = xrealloc(e->live, e->caplive * sizeof *e->live);
  }
  struct launched *l = &e->live[e->nlive++];
  snprintf(l->id, sizeof l->id, "%s", id);
  l->ce = xstrdup(ce);
  l->type = type;
  l->spot = spot;
}

static void untrack(struct ec2 *e, const char *id) {
  for (size_t i = 0; i < e->nlive; i++) {
    if (strcmp(e->live[i].id, id)) continue;
    free(e->live[i].ce);
    e->live[i] = e->live[--e->nlive];
    return;
  }
}

/* What the launch template version the CE names (id or name; version, default $Default) sets:
 * whether it names an AMI (*ami) and its user data, decoded (NULL when none). Nothing when it cannot
 * be described: RunInstances then says what is wrong with the template. */
static char *template_data(struct driver *d, const json_t *lt, int *ami) {
  const char *id = json_string_value(json_object_get(lt, "launchTemplateId"));
  const char *name = json_string_value(json_object_get(lt, "launchTemplateName"));
  const char *ver = json_string_value(json_object_get(lt, "version"));
  *ami = 0;
  if (!id && !name) return NULL;
  struct buf f, resp;
  buf_init(&f);
  buf_init(&resp);
  sigv4_form_add(&f, "Action", "DescribeLaunchTemplateVersions");
  sigv4_form_add(&f, "Version", EC2_VERSION);
  if (id) sigv4_form_add(&f, "LaunchTemplateId", id);
  else sigv4_form_add(&f, "LaunchTemplateName", name);
  sigv4_form_add(&f, "LaunchTemplateVersion.1", ver && *ver ? ver : "$Default");
  char err[512], image[128] = "";
  char *ud = NULL;
  if (ec2_call(d, &f, &resp, err, sizeof err)) {
    log_warn("ec2: describing launch template %s: %s", id ? id : name, err);
  } else {
    const char *data = resp.data ? strstr((const char *)resp.data, "<launchTemplateData>") : NULL;
    const char *end = data ? strstr(data, "</launchTemplateData>") : NULL;
    const char *u = data ? strstr(data, "<userData>") : NULL, *ue = u ? strstr(u, "</userData>") : NULL;
    xml_get(data, "imageId", image, sizeof image);
    if (u && ue && (!end || ue < end)) {
      u += strlen("<userData>");
      size_t n = 0;
      char *raw = (char *)base64_decode(u, (size_t)(ue - u), &n);
      if (raw && memchr(raw, 0, n)) { /* gzip: not merged */
        log_warn("ec2: launch template %s: binary (compressed) user data cannot be merged with Barge's; give it as text",
                 id ? id : name);
        free(raw);
      } else if (raw && n) {
        ud = raw; /* NUL-terminated */
      } else {
        free(raw);
      }
    }
  }
  *ami = image[0] != 0;
  buf_release(&f);
  buf_release(&resp);
  return ud;
}

/* The launch template's user data and Barge's bootstrap as one MIME multi-part document, the
 * template's part first (cloud-init runs both, in order, as AWS Batch merges them): RunInstances'
 * UserData replaces the template's, which would never run. A template's MIME document becomes a
 * part as it is (its headers the part's); anything else a text/plain part, typed by its first
 * line. */
static char *merge_user_data(const char *tmpl, const char *barge) {
  static const char *const boundary = "==BARGE-USER-DATA-7f3a9c==";
  struct buf b;
  buf_init(&b);
  buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\nMIME-Version: 1.0\n\n--%s\n", boundary, boundary);
  int mime = !strncasecmp(tmpl, "Content-Type:", 13) || !strncasecmp(tmpl, "MIME-Version:", 13);
  if (!mime) buf_printf(&b, "Content-Type: text/plain; charset=\"us-ascii\"\n\n");
  buf_printf(&b, "%s%s--%s\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n%s\n--%s--\n", tmpl,
             tmpl[0] && tmpl[strlen(tmpl) - 1] != '\n' ? "\n" : "", boundary, barge, boundary);
  return (char *)b.data;
}

/* The barge:deployment tag of the instances this driver launches: the Kafka cluster and topic
 * prefix their agents join. Instances with the same value belong to the same Barge. */
static void deployment(const struct driver *d, char *out, size_t n) {
  const struct driver_conf *c = &d->conf;
  snprintf(out, n, "%.200s/%.50s", c->ec2_agent_brokers && *c->ec2_agent_brokers ? c->ec2_agent_brokers : c->bus.brokers ? c->bus.brokers : "",
           c->bus.prefix ? c->bus.prefix : "barge.");
}

/* The pending and running instances of this deployment (its barge:deployment tag), for the
 * provisioner to find any it launched and never recorded (a crash before its commit). */
static int ec2_list(struct driver *d, struct driver_instance **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  char dep[256];
  deployment(d, dep, sizeof dep);
  struct buf f, resp;
  buf_init(&f);
  buf_init(&resp);
  sigv4_form_add(&f, "Action", "DescribeInstances");
  sigv4_form_add(&f, "Version", EC2_VERSION);
  sigv4_form_add(&f, "Filter.1.Name", "tag:barge:deployment");
  sigv4_form_add(&f, "Filter.1.Value.1", dep);
  sigv4_form_add(&f, "Filter.2.Name", "instance-state-name");
  sigv4_form_add(&f, "Filter.2.Value.1", "pending");
  sigv4_form_add(&f, "Filter.2.Value.2", "running");
  int rc = ec2_call(d, &f, &resp, err, errlen);
  size_t cap = 0;
  /* each instance is a top-level <item> of an <instancesSet> (items nest: tags, groups, ...) */
  const char *p = rc == 0 && resp.data ? (const char *)resp.data : NULL;
  while (p && (p = strstr(p, "<instancesSet>"))) {
    const char *set_end = strstr(p, "</instancesSet>"), *start = NULL;
    int depth = 0;
    p += strlen("<instancesSet>");
    while (set_end && p < set_end) {
      const char *open = strstr(p, "<item>"), *close = strstr(p, "</item>");
      if (!close || close > set_end) break;
      if (open && open < close) {
        if (depth++ == 0) start = open;
        p = open + strlen("<item>");
        continue;
      }
      p = close + strlen("</item>");
      if (--depth > 0 || !start) continue;
      char *item = xmalloc((size_t)(p - start) + 1), type[64] = "", lc[32] = "";
      memcpy(item, start, (size_t)(p - start));
      item[p - start] = 0;
      struct driver_instance di;
      memset(&di, 0, sizeof di);
      xml_get(item, "instanceId", di.id, sizeof di.id);
      xml_get(item, "instanceType", type, sizeof type);
      xml_get(item, "instanceLifecycle", lc, sizeof lc);
      di.spot = !strcmp(lc, "spot");
      const char *tag = strstr(item, "<key>barge:compute-environment</key>");
      if (tag) xml_get(tag, "value", di.ce, sizeof di.ce);
      free(item);
      int ti = type[0] ? catalog_index(d->conf.cat, type) : -1;
      di.type = ti >= 0 ? &d->conf.cat->types[ti] : NULL;
      if (di.id[0] && di.ce[0] && di.type) {
        if (*n == cap) {
          cap = cap ? cap * 2 : 16;
          *out = xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*n)++] = di;
      }
    }
    p = set_end;
  }
  buf_release(&f);
  buf_release(&resp);
  return rc;
}

static void ec2_watch(struct driver *d, const char *id, const char *ce, const struct catalog_type *t, int spot) {
  struct ec2 *e = d->impl;
  for (size_t i = 0; i < e->nlive; i++)
    if (!strcmp(e->live[i].id, id)) return;
  track(e, id, ce, (int)(t - d->conf.cat->types), spot);
}

static int ec2_launch(struct driver *d, const struct driver_launch *req, char (*ids)[32], int *n,
                      char *err, size_t errlen) {
  struct ec2 *e = d->impl;
  *n = 0;
  json_t *cr = json_object_get(req->ce_body, "computeResources");
  const char *pt = json_string_value(json_object_get(cr, "passthroughJson"));
  json_t *pass = pt ? json_loads(pt, 0, NULL) : NULL;
  const char *image = json_string_value(json_object_get(pass, "imageId"));
  json_t *lt = json_object_get(pass, "launchTemplate");
  /* the CE's imageId, else its launch template's AMI, else --ec2-image-id: the default must not
   * replace the AMI a launch template names (docs/provisioner.md, "Drivers") */
  int lt_ami = 0;
  char *lt_ud = json_is_object(lt) ? template_data(d, lt, &lt_ami) : NULL;
  if (!image && !lt_ami) image = d->conf.ec2_image_id;
  if (!image && !json_is_object(lt)) {
    json_decref(pass);
    free(lt_ud);
    snprintf(err, errlen, "no AMI: set the CE's imageId or launchTemplate, or --ec2-image-id");
    return -1;
  }
  struct buf f, resp;
  buf_init(&f);
  buf_init(&resp);
  char num[32];
  sigv4_form_add(&f, "Action", "RunInstances");
  sigv4_form_add(&f, "Version", EC2_VERSION);
  if (image) sigv4_form_add(&f, "ImageId", image);
  sigv4_form_add(&f, "InstanceType", req->type->name);
  snprintf(num, sizeof num, "%d", req->count);
  sigv4_form_add(&f, "MinCount", num);
  sigv4_form_add(&f, "MaxCount", num);
  char *ud = driver_ec2_user_data(&d->conf, req);
  if (lt_ud) {
    char *merged = merge_user_data(lt_ud, ud);
    free(ud);
    free(lt_ud);
    ud = merged;
  }
  char *ud64 = base64_encode(ud, strlen(ud), NULL);
  sigv4_form_add(&f, "UserData", ud64);
  free(ud);
  free(ud64);
  if (json_is_object(lt)) {
    const char *ltid = json_string_value(json_object_get(lt, "launchTemplateId"));
    const char *ltname = json_string_value(json_object_get(lt, "launchTemplateName"));
    const char *ltver = json_string_value(json_object_get(lt, "version"));
    if (ltid) sigv4_form_add(&f, "LaunchTemplate.LaunchTemplateId", ltid);
    if (ltname) sigv4_form_add(&f, "LaunchTemplate.LaunchTemplateName", ltname);
    if (ltver) sigv4_form_add(&f, "LaunchTemplate.Version", ltver);
  }
  json_t *subnets = json_object_get(pass, "subnets");
  if (json_array_size(subnets)) sigv4_form_add(&f, "SubnetId", json_string_value(json_array_get(subnets, 0)));
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(pass, "securityGroupIds"), i, v) {
    char k[64];
    snprintf(k, sizeof k, "SecurityGroupId.%zu", i + 1);
    if (json_is_string(v)) sigv4_form_add(&f, k, json_string_value(v));
  }
  const char *key = json_string_value(json_object_get(pass, "ec2KeyPair"));
  if (key) sigv4_form_add(&f, "KeyName", key);
  const char *role = json_string_value(json_object_get(pass, "instanceRole"));
  if (role) sigv4_form_add(&f, !strncmp(role, "arn:", 4) ? "IamInstanceProfile.Arn" : "IamInstanceProfile.Name", role);
  const char *pg = json_string_value(json_object_get(pass, "placementGroup"));
  if (pg) sigv4_form_add(&f, "Placement.GroupName", pg);
  if (req->spot) {
    sigv4_form_add(&f, "InstanceMarketOptions.MarketType", "spot");
    sigv4_form_add(&f, "InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time");
    if (req->max_price > 0) {
      snprintf(num, sizeof num, "%.6f", req->max_price);
      sigv4_form_add(&f, "InstanceMarketOptions.SpotOptions.MaxPrice", num);
    }
  }
  /* tags: the CE's, then Barge's own */
  sigv4_form_add(&f, "TagSpecification.1.ResourceType", "instance");
  int t = 1;
  const char *tk;
  json_t *tv;
  json_object_foreach(json_object_get(cr, "tags"), tk, tv) {
    char k[64];
    snprintf(k, sizeof k, "TagSpecification.1.Tag.%d.Key", t);
    sigv4_form_add(&f, k, tk);
    snprintf(k, sizeof k, "TagSpecification.1.Tag.%d.Value", t++);
    sigv4_form_add(&f, k, json_string_value(tv) ? json_string_value(tv) : "");
  }
  char k[64];
  snprintf(k, sizeof k, "TagSpecification.1.Tag.%d.Key", t);
  sigv4_form_add(&f, k, "barge:compute-environment");
  snprintf(k, sizeof k, "TagSpecification.1.Tag.%d.Value", t++);
  sigv4_form_add(&f, k, req->ce);
  char dep[256];
  deployment(d, dep, sizeof dep);
  snprintf(k, sizeof k, "TagSpecification.1.Tag.%d.Key", t);
  sigv4_form_add(&f, k, "barge:deployment");
  snprintf(k, sizeof k, "TagSpecification.1.Tag.%d.Value", t);
  sigv4_form_add(&f, k, dep);
  json_decref(pass);
  int rc = ec2_call(d, &f, &resp, err, errlen);
  buf_release(&f);
  if (rc == 0) {
    /* every <instanceId> in the response is one launched instance (listed once per item) */
    const char *p = (const char *)resp.data;
    char id[32];
    while (p && (p = xml_get(p, "instanceId", id, sizeof id))) {
      int dup = 0;
      for (int j = 0; j < *n; j++) dup |= !strcmp(ids[j], id);
      if (dup || *n >= req->count) continue;
      snprintf(ids[*n], 32, "%s", id);
      track(e, id, req->ce, (int)(req->type - d->conf.cat->types), req->spot);
      (*n)++;
    }
    if (*n < req->count) {
      snprintf(err, errlen, "RunInstances returned %d of %d instances", *n, req->count);
      rc = -1;
    }
  }
  buf_release(&resp);
  return rc;
}

static int ec2_drain(struct driver *d, const char *id, char *err, size_t errlen) {
  (void)d, (void)id, (void)err, (void)errlen;
  return 0; /* the scheduler stops placing; the instance runs until terminated */
}

static int ec2_terminate(struct driver *d, const char *id, char *err, size_t errlen) {
  struct buf f, resp;
  buf_init(&f);
  buf_init(&resp);
  sigv4_form_add(&f, "Action", "TerminateInstances");
  sigv4_form_add(&f, "Version", EC2_VERSION);
  sigv4_form_add(&f, "InstanceId.1", id);
  int rc = ec2_call(d, &f, &resp, err, errlen);
  if (rc && strstr(err, "InvalidInstanceID.NotFound")) rc = 0; /* already gone */
  if (rc == 0) untrack(d->impl, id);
  buf_release(&f);
  buf_release(&resp);
  return rc;
}

/* DescribeInstances of ids: each one's state name ("pending", "running", "terminated", ...) or
 * "" when EC2 does not list it. */
static int describe_names(struct driver *d, const char *const *ids, size_t n, char (*names)[24], char *err,
                          size_t errlen) {
  struct buf f, resp;
  buf_init(&f);
  buf_init(&resp);
  sigv4_form_add(&f, "Action", "DescribeInstances");
  sigv4_form_add(&f, "Version", EC2_VERSION);
  for (size_t i = 0; i < n; i++) {
    char k[48];
    snprintf(k, sizeof k, "InstanceId.%zu", i + 1);
    sigv4_form_add(&f, k, ids[i]);
    names[i][0] = 0;
  }
  int rc = ec2_call(d, &f, &resp, err, errlen);
  if (rc && strstr(err, "InvalidInstanceID.NotFound")) {
    /* EC2 refuses the whole call when one id is unknown: ask for each alone */
    rc = 0;
    buf_reset(&resp);
    for (size_t i = 0; n > 1 && i < n && rc == 0; i++) rc = describe_names(d, &ids[i], 1, &names[i], err, errlen);
    n = n > 1 ? 0 : n;
  }
  const char *body = resp.data ? (const char *)resp.data : "";
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char tag[80];
    snprintf(tag, sizeof tag, "<instanceId>%.40s</instanceId>", ids[i]);
    const char *at = strstr(body, tag);
    char st[256] = "";
    if (at && (at = strstr(at, "<instanceState>"))) xml_get(at, "name", st, sizeof st);
    snprintf(names[i], 24, "%.23s", st);
  }
  buf_release(&f);
  buf_release(&resp);
  return rc;
}

static int ec2_describe(struct driver *d, const char *const *ids, size_t n, enum driver_state *st,
                        char *err, size_t errlen) {
  char(*names)[24] = xcalloc(n ? n : 1, sizeof *names);
  int rc = n ? describe_names(d, ids, n, names, err, errlen) : 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *s = names[i];
    st[i] = !*s ? DRV_UNKNOWN
            : !strcmp(s, "pending") ? DRV_PENDING
            : !strcmp(s, "running") ? DRV_RUNNING
                                    : DRV_GONE; /* shutting-down, terminated, stopping, stopped */
  }
  free(names);
  return rc;
}

/* One DescribeInstances of the tracked instances [from, from + n): those EC2 stopped or
 * terminated are reported TERMINATED and untracked (the last ones move into their slots, so the
 * caller walks down). -1 only when publishing fails. */
static int poll_chunk(struct driver *d, size_t from, size_t n, char *err, size_t errlen) {
  struct ec2 *e = d->impl;
  const char **ids = xcalloc(n, sizeof *ids);
  for (size_t i = 0; i < n; i++) ids[i] = e->live[from + i].id;
  enum driver_state *st = xcalloc(n, sizeof *st);
  char why[512];
  int rc = 0;
  if (ec2_describe(d, ids, n, st, why, sizeof why)) {
    log_warn("ec2: describing instances: %s", why); /* transient: next poll */
  } else {
    for (size_t i = n; i-- > 0 && !rc;) {
      if (st[i] != DRV_GONE) continue;
      struct launched l = e->live[from + i];
      if (e->prod) {
        const struct catalog_type *t = &d->conf.cat->types[l.type];
        json_t *ev = driver_instance_event(d, l.id, l.ce, "TERMINATED", t, catalog_sched_mem(d->conf.cat, t), l.spot,
                                           "EC2 reports the instance stopped or terminated");
        rc = bus_produce(e->prod, TOPIC_INSTANCES, l.id, ev, err, errlen);
        json_decref(ev);
        if (rc) break;
      }
      untrack(e, l.id);
    }
  }
  free(ids);
  free(st);
  return rc;
}

static int ec2_poll(struct driver *d, char *err, size_t errlen) {
  struct ec2 *e = d->impl;
  int64_t now = mono_ms();
  if (now < e->next_poll || !e->nlive) return 0;
  e->next_poll = now + d->conf.ec2_poll_ms;
  /* every instance it launched, 200 per call, the last chunk first: untracking moves the last
   * instance into the freed slot, which this walk has seen already */
  for (size_t end = e->nlive; end > 0;) {
    size_t from = end > 200 ? end - 200 : 0;
    if (poll_chunk(d, from, end - from, err, errlen)) return -1;
    end = from;
  }
  if (e->prod) bus_producer_poll(e->prod);
  return 0;
}

static void ec2_free(struct driver *d) {
  struct ec2 *e = d->impl;
  if (!e) return;
  driver_producer_close(d, e->prod);
  for (size_t i = 0; i < e->nlive; i++) free(e->live[i].ce);
  free(e->live);
  free(e);
}

static const struct driver_ops ec2_ops = {"ec2", 0, ec2_launch, ec2_drain, ec2_terminate, ec2_describe, ec2_watch, ec2_list, ec2_poll, ec2_free};

size_t driver_ec2_tracked(const struct driver *d) {
  return d && d->ops == &ec2_ops ? ((const struct ec2 *)d->impl)->nlive : 0;
}

long long driver_ec2_retries(const struct driver *d) {
  return d && d->ops == &ec2_ops ? ((const struct ec2 *)d->impl)->retries : 0;
}

int driver_ec2_check_conf(const struct driver_conf *conf, char *err, size_t errlen) {
  if (conf->ec2_agent_log_port < 0 || conf->ec2_agent_log_port > 65535) {
    snprintf(err, errlen, "--ec2-agent-log-port %lld: not a port (1-65535)", conf->ec2_agent_log_port);
    return -1;
  }
  if (conf->ec2_agent_log_port > 0 && !(conf->ec2_agent_log_token && *conf->ec2_agent_log_token)) {
    snprintf(err, errlen,
             "--ec2-agent-log-port needs --ec2-agent-log-token-file PATH: the agents serve their logs beyond loopback "
             "only to requests signed with that secret (docs/api.md, \"Job logs\")");
    return -1;
  }
  const char *c = conf->ec2_agent_log_tls_cert, *k = conf->ec2_agent_log_tls_key;
  if (!(c && *c) != !(k && *k)) {
    snprintf(err, errlen, "give both --ec2-agent-log-tls-cert and --ec2-agent-log-tls-key, or neither");
    return -1;
  }
  if (c && *c && conf->ec2_agent_log_port <= 0) {
    snprintf(err, errlen, "--ec2-agent-log-tls-cert needs --ec2-agent-log-port (the agents serve no logs without it)");
    return -1;
  }
  return 0;
}

struct driver *driver_ec2_new(const struct driver_conf *conf, char *err, size_t errlen) {
  if (driver_ec2_check_conf(conf, err, errlen)) return NULL;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct ec2 *e = xcalloc(1, sizeof *e);
  struct driver *d = driver_alloc(&ec2_ops, conf, e);
  e->rng = (uint64_t)now_ms() | 1;
  snprintf(e->region, sizeof e->region, "%s", env_or(conf->ec2_region, "AWS_REGION", env_or(NULL, "AWS_DEFAULT_REGION", "us-east-1")));
  if (conf->ec2_endpoint && *conf->ec2_endpoint) snprintf(e->endpoint, sizeof e->endpoint, "%s", conf->ec2_endpoint);
  else snprintf(e->endpoint, sizeof e->endpoint, "https://ec2.%s.amazonaws.com/", e->region);
  /* Host header as curl sends it: the URL's authority, default ports dropped */
  const char *a = strstr(e->endpoint, "://");
  a = a ? a + 3 : e->endpoint;
  size_t len = strcspn(a, "/?#");
  snprintf(e->host, sizeof e->host, "%.*s", (int)len, a);
  int https = !strncmp(e->endpoint, "https://", 8);
  size_t hl = strlen(e->host);
  if (https && hl > 4 && !strcmp(e->host + hl - 4, ":443")) e->host[hl - 4] = 0;
  if (!https && hl > 3 && !strcmp(e->host + hl - 3, ":80")) e->host[hl - 3] = 0;
  snprintf(e->access_key, sizeof e->access_key, "%s", env_or(conf->ec2_access_key, "AWS_ACCESS_KEY_ID", ""));
  snprintf(e->secret_key, sizeof e->secret_key, "%s", env_or(conf->ec2_secret_key, "AWS_SECRET_ACCESS_KEY", ""));
  snprintf(e->session_token, sizeof e->session_token, "%s", env_or(conf->ec2_session_token, "AWS_SESSION_TOKEN", ""));
  if (conf->bus.brokers && *conf->bus.brokers) {
    e->prod = bus_producer_new(&d->conf.bus, NULL, err, errlen);
    if (!e->prod) {
      driver_free(d);
      return NULL;
    }
  }
  return d;
}
