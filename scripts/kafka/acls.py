#!/usr/bin/env python3
"""acls.py: a Barge service's own Kafka principal and the ACLs that allow it only its topics, on a
broker started by `scripts/kafka.sh start --security sasl_ssl` (run as `scripts/kafka.sh acl`).

    acls.py DIR SERVICE PREFIX

Grants the user SERVICE (made by `kafka.sh start --security sasl_ssl`, DIR/users) the ACLs of
SERVICES[SERVICE] for the topics under PREFIX, and writes its client settings to
DIR/kafka-props.SERVICE (mode 0600; the mechanism of DIR/kafka-props), for --kafka-props. Talks
to the broker as the super user of DIR/kafka-props (confluent-kafka's Admin API). Prints one
line; exit 1 with the reason."""
import os
import sys

# What each service may do (docs/operations.md, "Per-service principals"): topics it reads and
# writes (base names under the prefix), consumer groups (name prefixes) it commits in.
# A producer is idempotent, which Kafka allows to a principal that may write some topic.
SERVICES = {
    # reads its placements; reports executions and its instance's events; never jobs or config
    "agent": {"read": ["placements"], "write": ["executions", "instances", "dead-letter"],
              "groups": ["barge-agent-"]},
}


def props_dict(text):
    out = {}
    for kv in text.strip().replace("\n", ",").split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: acls.py DIR SERVICE PREFIX")
    kdir, service, prefix = sys.argv[1:]
    if service not in SERVICES:
        sys.exit(f"acl: no ACLs defined for service '{service}' (known: {', '.join(sorted(SERVICES))})")
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)
    with open(os.path.join(kdir, "kafka-props")) as f:
        admin_props = props_dict(f.read())
    with open(os.path.join(kdir, "bootstrap")) as f:
        bootstrap = f.read().strip()
    with open(os.path.join(kdir, "users")) as f:
        password = dict(line.split() for line in f if line.strip()).get(service)
    if not password:
        sys.exit(f"kafka: error: acl: no user {service} in {kdir}/users")
    admin = AdminClient({"bootstrap.servers": bootstrap, **admin_props})

    spec, principal = SERVICES[service], f"User:{service}"
    allow, lit, pre = AclPermissionType.ALLOW, ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED

    def acl(rtype, name, pattern, op):
        return AclBinding(rtype, name, pattern, principal, "*", op, allow)
    acls = []
    for base in spec["read"]:
        acls += [acl(ResourceType.TOPIC, prefix + base, lit, op) for op in (AclOperation.READ, AclOperation.DESCRIBE)]
    for base in spec["write"]:
        acls += [acl(ResourceType.TOPIC, prefix + base, lit, op) for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]
    for g in spec["groups"]:
        acls += [acl(ResourceType.GROUP, g, pre, op) for op in (AclOperation.READ, AclOperation.DESCRIBE)]
    for fut in admin.create_acls(acls).values():
        fut.result(timeout=30)

    client = dict(admin_props, **{"sasl.username": service, "sasl.password": password})
    path = os.path.join(kdir, f"kafka-props.{service}")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(",".join(f"{k}={v}" for k, v in client.items()) + "\n")
    os.replace(path + ".tmp", path)
    print(f"kafka: user {service}: {len(acls)} ACLs on topics under {prefix}; client settings in {path}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line, not a traceback
        sys.exit(f"kafka: error: acl: {e}")
