#!/usr/bin/env python3
"""test_container_run.py: with `barge agent --runtime podman` a job runs in a container of its
image, with the job definition's container members honoured (docs/containers.md).

One scheduler, one podman agent, the local test image (container_image.py). Checked:
- the root file system is the image's (its marker file, no host /etc/debian_version), the
  hostname is the container's own (not the host's), and the job's shell is PID 1;
- the environment carries the job's variables, the AWS_BATCH_* ones and a secret from the
  agent's local secret store; the output is in the attempt log;
- a host volume (volumes + mountPoints) is visible read-write, and readOnly where asked;
- readonlyRootFilesystem refuses a write to /; `user` changes the uid; ulimits apply;
  linuxParameters: initProcessEnabled (PID 1 is the init, not the shell), a tmpfs, sharedMemorySize;
- DescribeJobs shows the members (volumes, mountPoints, user, ...) and the attempt's taskArn;
- a job whose image is missing fails with CannotPullContainerError; a job asking for a secret
  the store lacks fails with the store's reason; privileged is refused by this agent's policy;
- GPU plumbing with a fake device list (two character devices made with mknod, given to the
  agent with --gpu-devices): a job asking for 2 GPUs sees both devices and
  NVIDIA_VISIBLE_DEVICES=0,1;
- the AWS Batch workshop's stress-ng job (`stress-ng --cpu 1 --vm 1 --vm-bytes 64M --timeout 3s`)
  runs from a local image holding Debian's stress-ng and its libraries;
- no container is left behind. Skipped (77) when podman cannot run here."""
import os
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import container_image  # noqa: E402
from common import ok  # noqa: E402

INST = "i-0c0a7a1e00000000a"


def jd(st, name, command, **members):
    props = {"image": container_image.IMAGE, "command": command,
             "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}]}
    props.update(members)
    st.json("register-job-definition", "--job-definition-name", name, "--type", "container",
            "--container-properties", common.json.dumps(props))


def log_of(st, job, attempt=1):
    try:
        with open(os.path.join(st.home, "logs", job, f"{attempt}.log")) as f:
            return f.read()
    except OSError:
        return ""


def body(st):
    vol = os.path.join(st.home, "vol")
    os.makedirs(vol)
    with open(os.path.join(vol, "from-host.txt"), "w") as f:
        f.write("hello-from-host\n")
    secrets = os.path.join(st.home, "secrets")
    os.makedirs(secrets)
    with open(os.path.join(secrets, "db-password"), "w") as f:
        f.write("s3cret-value\n")
    st.init_queue("q", "local")
    volumes = [{"name": "data", "host": {"sourcePath": vol}}]
    jd(st, "iso", ["sh", "-c", "cat /etc/image-marker; test -e /etc/debian_version && echo HOST-ROOT; "
                   "echo host=$(hostname); echo pid=$$; echo env=$GREETING job=$AWS_BATCH_JOB_ID "
                   "secret=$DB_PASSWORD; cat /data/from-host.txt; echo written-by-job > /data/out.txt; "
                   "echo ro=$(touch /ro/x 2>/dev/null && echo writable || echo refused); "
                   "echo nofile=$(ulimit -n); echo shm=$(df -k /dev/shm | tail -1 | awk '{print $2}'); "
                   "echo tmp=$(grep ' /scratch ' /proc/mounts | cut -d' ' -f3)"],
       environment=[{"name": "GREETING", "value": "hi"}], volumes=volumes,
       mountPoints=[{"sourceVolume": "data", "containerPath": "/data"},
                    {"sourceVolume": "data", "containerPath": "/ro", "readOnly": True}],
       ulimits=[{"name": "nofile", "softLimit": 512, "hardLimit": 512}],
       secrets=[{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password"}],
       linuxParameters={"sharedMemorySize": 32, "tmpfs": [{"containerPath": "/scratch", "size": 16}]},
       logConfiguration={"logDriver": "awslogs"})
    jd(st, "rofs", ["sh", "-c", "touch /newfile && echo root-writable || echo root-refused; touch /tmp/x 2>&1"],
       readonlyRootFilesystem=True)
    jd(st, "user", ["sh", "-c", "echo uid=$(id -u)"], user="1000")
    jd(st, "init", ["sh", "-c", "echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '; echo"],
       linuxParameters={"initProcessEnabled": True})
    jd(st, "noimage", ["true"], image="localhost/barge-no-such-image:1")
    # registration refuses a secret the store lacks (test_container_bad_input.py); one removed
    # from the store after registration fails the attempt
    with open(os.path.join(secrets, "not-in-store"), "w") as f:
        f.write("x\n")
    jd(st, "nosecret", ["true"], secrets=[{"name": "X", "valueFrom": "not-in-store"}])
    os.unlink(os.path.join(secrets, "not-in-store"))
    jd(st, "priv", ["true"], privileged=True)
    stress = container_image.ensure_stress_image()
    names = ["iso", "rofs", "user", "init", "noimage", "nosecret", "priv"]
    if stress:
        jd(st, "stress", ["stress-ng", "--cpu", "1", "--vm", "1", "--vm-bytes", "64M", "--timeout", "3s",
                          "--metrics-brief"], image=stress,
           resourceRequirements=[{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}])
        names.append("stress")
    fake = [os.path.join(st.home, f"fakegpu{i}") for i in range(2)]
    for f in fake:
        os.mknod(f, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    jd(st, "gpu", ["sh", "-c", f"test -c {fake[0]} && test -c {fake[1]} && echo gpu-devices-ok; "
                   "echo vis=$NVIDIA_VISIBLE_DEVICES"],
       resourceRequirements=[{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"},
                             {"type": "GPU", "value": "2"}])
    names.append("gpu")
    st.scheduler()
    st.agent(INST, runtime="podman", vcpus=2, memory=2048, gpus=2, gpu_devices=",".join(fake))
    ids = {n: st.submit(n, "q", n) for n in names}
    done = st.wait_terminal(ids.values(), 120)
    d = {n: done[i] for n, i in ids.items()}
    out = log_of(st, ids["iso"])
    ok(d["iso"]["status"] == "SUCCEEDED", "the isolation job SUCCEEDED", d["iso"].get("statusReason"))
    ok("barge-test-image" in out and "HOST-ROOT" not in out, "its root file system is the image's", out)
    ok(f"host={socket.gethostname()}\n" not in out and "host=" in out, "its hostname is its own", out)
    ok("pid=1\n" in out, "its shell is PID 1", out)
    ok(f"env=hi job={ids['iso']} secret=s3cret-value" in out, "environment, AWS_BATCH_JOB_ID and the secret", out)
    ok("hello-from-host" in out, "the host volume is visible", out)
    with open(os.path.join(vol, "out.txt")) as f:
        ok(f.read() == "written-by-job\n", "what the job wrote is on the host")
    ok("ro=refused" in out, "a readOnly mount point refuses writes", out)
    ok("nofile=512" in out, "ulimits apply", out)
    ok("shm=32768" in out, "sharedMemorySize sizes /dev/shm", out)
    ok("tmp=tmpfs" in out, "linuxParameters.tmpfs mounts a tmpfs", out)
    c = d["iso"]["container"]
    ok(c.get("volumes") == volumes and c.get("mountPoints", [{}])[1].get("readOnly") is True
       and c.get("ulimits") and c.get("secrets") and c.get("linuxParameters", {}).get("sharedMemorySize") == 32,
       "DescribeJobs shows volumes, mountPoints, ulimits, secrets, linuxParameters", c)
    ok(c.get("taskArn") and c.get("containerInstanceArn") and c.get("logStreamName"),
       "and taskArn, containerInstanceArn, logStreamName", c)
    ok("root-refused" in log_of(st, ids["rofs"]) and "root-writable" not in log_of(st, ids["rofs"]),
       "readonlyRootFilesystem refuses a write to /", log_of(st, ids["rofs"]))
    ok("uid=1000" in log_of(st, ids["user"]), "user 1000 runs the job as uid 1000", log_of(st, ids["user"]))
    init_out = log_of(st, ids["init"])
    ok("pid=1\n" not in init_out and ("podman-init" in init_out or "catatonit" in init_out or "tini" in init_out),
       "initProcessEnabled: PID 1 is the init", init_out)
    r = d["noimage"].get("statusReason", "")
    ok(d["noimage"]["status"] == "FAILED" and r.startswith("CannotPullContainerError:"),
       "a missing image: FAILED with CannotPullContainerError", r)
    r = d["nosecret"].get("statusReason", "")
    ok(d["nosecret"]["status"] == "FAILED" and "not-in-store" in r and "ResourceInitializationError" in r,
       "an unknown secret: FAILED naming it", r)
    r = d["priv"].get("statusReason", "")
    ok(d["priv"]["status"] == "FAILED" and "privileged" in r, "privileged refused by the agent's policy", r)
    out = log_of(st, ids["gpu"])
    ok(d["gpu"]["status"] == "SUCCEEDED" and "gpu-devices-ok" in out and "vis=0,1" in out,
       "a 2-GPU job gets the agent's two (fake) GPU devices and NVIDIA_VISIBLE_DEVICES", out)
    if stress:
        out = log_of(st, ids["stress"])
        ok(d["stress"]["status"] == "SUCCEEDED" and "successful run completed" in out,
           "the workshop's stress-ng job runs from its image", out[-400:])
    else:
        ok(False, "stress-ng is installed for the workshop job (scripts/setup.sh installs it)")
    left = container_image.containers_of(f"barge.instance={INST}")
    ok(left == [], "no container left behind", left)


if __name__ == "__main__":
    container_image.podman_or_skip()
    common.run_test("ctr-run", body)
