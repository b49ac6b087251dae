#!/usr/bin/env python3
"""acls.py: each Barge service's own Kafka principal and the ACLs that allow it only its topics, on
a broker started by `scripts/kafka.sh start --security sasl_ssl` (run as `scripts/kafka.sh acl`).

    acls.py DIR SERVICE|all PREFIX

Grants the user SERVICE (made by `kafka.sh start --security sasl_ssl`, DIR/users) the ACLs of
SERVICES[SERVICE] for the topics under PREFIX ("all": every service of the table), and writes its
client settings to DIR/kafka-props.SERVICE (mode 0600; the mechanism of DIR/kafka-props), for
--kafka-props or `barge up --kafka-props-dir DIR`. Talks to the broker as the super user of
DIR/kafka-props (confluent-kafka's Admin API). Prints one line per service; exit 1 with the
reason."""
import os
import sys

# Barge's topics (base names under the prefix): the table of lib/bus.c, docs/architecture.md "Topics".
TOPICS = ["requests", "config", "job-events", "executions", "jobs", "placements", "capacity",
          "instances", "scaling", "usage", "dead-letter", "job-waits"]

# What each service may do (docs/operations.md, "Per-service principals"), from the code that
# produces and consumes: topics it reads and writes (base names), consumer groups it commits in
# (name prefixes, READ), transactional ids it uses (prefixes: an id is "barge-scheduler", or
# "barge-scheduler-PREFIX" under another topic prefix). A producer is idempotent, which Kafka
# allows to a principal that may write some topic (no IDEMPOTENT_WRITE on the cluster needed).
# Every principal may also use the throwaway groups of Barge's table readers ("barge-anon-").
SERVICES = {
    # inputs requests, instances, executions; config as a table; restores instances and jobs.
    # Writes the job log: job states, records, placements, capacity demand, waits; instance
    # DRAINED/LOST; its own Ticks on requests
    "scheduler": {"read": ["requests", "config", "instances", "executions", "jobs"],
                  "write": ["requests", "jobs", "job-events", "placements", "capacity", "instances",
                            "job-waits", "dead-letter"],
                  "groups": ["barge-scheduler"], "txn": ["barge-scheduler"]},
    # inputs capacity and instances, config as a table; writes scaling decisions and instance
    # events (its drivers too); the sim driver plays the agents: reads placements, writes executions
    "provisioner": {"read": ["capacity", "instances", "config", "placements"],
                    "write": ["instances", "scaling", "executions", "dead-letter"],
                    "groups": ["barge-provisioner"], "txn": ["barge-provisioner"]},
    # reads its placements, and config to say when its compute environment does not exist
    # (agent/ce_check.c); reports executions and its instance's events; never writes jobs or config
    "agent": {"read": ["placements", "config"], "write": ["executions", "instances", "dead-letter"],
              "groups": ["barge-agent-"]},
    # inputs job-events, instances, config; its usage table; writes usage
    "accounting": {"read": ["job-events", "instances", "config", "usage"],
                   "write": ["usage", "dead-letter"],
                   "groups": ["barge-accounting"], "txn": ["barge-accounting"]},
    # reads every topic into its file; writes none
    "audit": {"read": TOPICS, "write": [], "groups": ["barge-audit"]},
    # the AWS Batch API (and its dashboard): writes requests and config (the control plane);
    # reads the tables it answers from (config, jobs, instances, scaling), the recent
    # submissions a dependsOn may name (requests), and for the dashboard's job timeline and
    # usage page what `barge explain` and `barge usage` read (job-events, job-waits, usage)
    "api": {"read": ["requests", "config", "jobs", "instances", "scaling", "job-events",
                     "job-waits", "usage"],
            "write": ["requests", "config"]},
    # the command line and `barge up`/`barge init` themselves: reads everything (describe, logs,
    # watch, explain, status, check, replay, usage), writes requests and config, creates the
    # topics, reads the services' committed offsets (`barge status`)
    "cli": {"read": TOPICS, "write": ["requests", "config"], "create": True,
            "describe_groups": ["barge-"]},
}


def props_dict(text):
    out = {}
    for kv in text.strip().replace("\n", ",").split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def bindings(service, prefix):
    """The AclBindings of one service under a topic prefix."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType,
                                       ResourcePatternType, ResourceType)
    spec, principal = SERVICES[service], f"User:{service}"
    allow, lit, pre = AclPermissionType.ALLOW, ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    R, W, D = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE

    def acl(rtype, name, pattern, ops):
        return [AclBinding(rtype, name, pattern, principal, "*", op, allow) for op in ops]
    out = []
    for base in spec["read"]:
        out += acl(ResourceType.TOPIC, prefix + base, lit, (R, D))
    for base in spec["write"]:
        out += acl(ResourceType.TOPIC, prefix + base, lit, (W, D))
    for g in spec.get("groups", []) + ["barge-anon-"]:
        out += acl(ResourceType.GROUP, g, pre, (R, D))
    for g in spec.get("describe_groups", []):
        out += acl(ResourceType.GROUP, g, pre, (D,))
    for t in spec.get("txn", []):
        out += acl(ResourceType.TRANSACTIONAL_ID, t, pre, (W, D))
    if spec.get("create"):
        out += acl(ResourceType.TOPIC, prefix, pre, (AclOperation.CREATE,))
    # (read and write of one topic both list DESCRIBE: Kafka keeps one)
    seen, uniq = set(), []
    for b in out:
        k = (b.restype, b.name, b.resource_pattern_type, b.operation)
        if k not in seen:
            seen.add(k)
            uniq.append(b)
    return uniq


def grant(admin, kdir, admin_props, users, service, prefix):
    password = users.get(service)
    if not password:
        sys.exit(f"kafka: error: acl: no user {service} in {kdir}/users (a broker started before it was "
                 "added: start it again without --keep)")
    acls = bindings(service, prefix)
    for fut in admin.create_acls(acls).values():
        fut.result(timeout=30)
    client = dict(admin_props, **{"sasl.username": service, "sasl.password": password})
    path = os.path.join(kdir, f"kafka-props.{service}")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(",".join(f"{k}={v}" for k, v in client.items()) + "\n")
    os.replace(path + ".tmp", path)
    print(f"kafka: user {service}: {len(acls)} ACLs on topics under {prefix}; client settings in {path}")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: acls.py DIR SERVICE|all PREFIX")
    kdir, service, prefix = sys.argv[1:]
    if service != "all" and service not in SERVICES:
        sys.exit(f"acl: no ACLs defined for service '{service}' (known: {', '.join(sorted(SERVICES))}, all)")
    from confluent_kafka.admin import AdminClient
    with open(os.path.join(kdir, "kafka-props")) as f:
        admin_props = props_dict(f.read())
    with open(os.path.join(kdir, "bootstrap")) as f:
        bootstrap = f.read().strip()
    with open(os.path.join(kdir, "users")) as f:
        users = dict(line.split() for line in f if line.strip())
    admin = AdminClient({"bootstrap.servers": bootstrap, **admin_props})
    for s in (sorted(SERVICES) if service == "all" else [service]):
        grant(admin, kdir, admin_props, users, s, prefix)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line, not a traceback
        sys.exit(f"kafka: error: acl: {e}")
