#!/usr/bin/env python3
"""test_container_bad_input.py: container members Barge cannot honour are refused at
RegisterJobDefinition with a one-line error naming the member, and nothing is written (the end
offset of barge.config does not move; a valid registration afterwards moves it, which shows the
check can fail). Cases: an unknown linuxParameters member, a mountPoints entry naming no volume,
a secret the local store lacks, a volume that is not a host path (EFS), a log driver other than
awslogs, a ulimit that does not exist, a member Barge does not honour (ephemeralStorage).
No engine is needed: these are the API's checks (docs/containers.md)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def props(**extra):
    p = {"image": "busybox", "command": ["true"],
         "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
    p.update(extra)
    return json.dumps(p)


def config_end(st):
    return sum(common.end_offsets(st, "config").values())


def body(st):
    st.init()
    os.makedirs(os.path.join(st.home, "secrets"))
    with open(os.path.join(st.home, "secrets", "present"), "w") as f:
        f.write("v\n")
    vol = [{"name": "data", "host": {"sourcePath": "/tmp"}}]
    cases = [
        ("an unknown linuxParameters member", props(linuxParameters={"capabilities": {"add": ["SYS_ADMIN"]}}),
         "linuxParameters.capabilities"),
        ("a mountPoints entry naming no volume",
         props(volumes=vol, mountPoints=[{"sourceVolume": "nope", "containerPath": "/d"}]),
         "mountPoints[0].sourceVolume"),
        ("a secret that does not exist",
         props(secrets=[{"name": "PW", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:absent"}]),
         "secrets[0].valueFrom"),
        ("an EFS volume", props(volumes=[{"name": "e", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]),
         "volumes[0].efsVolumeConfiguration"),
        ("a log driver other than awslogs", props(logConfiguration={"logDriver": "splunk"}),
         "logConfiguration.logDriver"),
        ("a ulimit that does not exist", props(ulimits=[{"name": "bogus", "softLimit": 1, "hardLimit": 1}]),
         "ulimits[0].name"),
        ("a member Barge does not honour", props(ephemeralStorage={"sizeInGiB": 30}), "ephemeralStorage"),
    ]
    before = config_end(st)
    for what, cp, member in cases:
        p = st.run("register-job-definition", "--job-definition-name", "bad", "--type", "container",
                   "--container-properties", cp, check=False)
        err = p.stderr.strip()
        ok(p.returncode in (252, 254) and member in err and len(err.splitlines()) == 1,
           f"{what}: refused naming {member}", f"exit {p.returncode}: {err}")
    ok(config_end(st) == before, "nothing written to barge.config")
    good = props(volumes=vol, mountPoints=[{"sourceVolume": "data", "containerPath": "/d", "readOnly": True}],
                 secrets=[{"name": "PW", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/present"}],
                 linuxParameters={"initProcessEnabled": True, "tmpfs": [{"containerPath": "/t", "size": 8}]},
                 logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "g"}}, user="1000")
    r = st.json("register-job-definition", "--job-definition-name", "good", "--type", "container",
                "--container-properties", good)
    ok(r.get("revision") == 1, "the same members, valid, register", r)
    ok(config_end(st) == before + 1, "and that one is written")
    jd = st.json("describe-job-definitions", "--job-definition-name", "good")["jobDefinitions"][0]["containerProperties"]
    ok(jd.get("mountPoints") == [{"sourceVolume": "data", "containerPath": "/d", "readOnly": True}]
       and jd.get("user") == "1000" and jd.get("linuxParameters", {}).get("initProcessEnabled") is True,
       "DescribeJobDefinitions shows them", jd)


if __name__ == "__main__":
    common.run_test("ctr-bad", body)
