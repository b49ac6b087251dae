#!/usr/bin/env python3
"""test_container_image_names.py: what a container job's image name leads to, with
`barge agent --runtime podman` (docs/containers.md, "Images"; docs/job-model.md §2.4).

1. A short name the engine does not hold (`barge-no-such-image:1`, also missing as
   `localhost/barge-no-such-image:1`): FAILED with `CannotPullContainerError:
   barge-no-such-image:1: ...`, naming the image as the job definition gives it. The agent used
   to name whatever the freed memory of the create body held there (`engine`, or garbage): it
   read the image's name through a pointer into the string it had just replaced.
2. A name that is no image reference (`Bad Image`, `UPPER/case:1`): FAILED with
   `CannotPullContainerError: <name>: ...invalid reference format...`, as ECS reports it, so that
   a retry rule on `CannotPullContainerError*` matches it (it was `CannotCreateContainerError`).
3. A short name that the engine holds as `localhost/<name>` (the test image without its
   `localhost/`) runs: SUCCEEDED.
Skipped (77) when podman cannot run here.
barge-test: plain-only"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import container_image  # noqa: E402
from common import log, ok  # noqa: E402

INST = "i-0c0a7a1e0000000e1"


def jd(st, name, image, retry=None):
    props = {"image": image, "command": ["echo", "ran"],
             "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
    args = ["register-job-definition", "--job-definition-name", name, "--type", "container",
            "--container-properties", common.json.dumps(props)]
    if retry:
        args += ["--retry-strategy", common.json.dumps(retry)]
    st.json(*args)


def names(st):
    log("-- container images by name: missing short names, names that are no reference, localhost/")
    st.init_queue("q", "local")
    exit_on_pull = {"attempts": 3, "evaluateOnExit": [{"onStatusReason": "CannotPullContainerError*", "action": "EXIT"}]}
    jd(st, "short", "barge-no-such-image:1")
    jd(st, "spaced", "Bad Image", exit_on_pull)
    jd(st, "upper", "UPPER/case:1", exit_on_pull)
    jd(st, "local", container_image.IMAGE[len("localhost/"):])
    st.scheduler()
    st.agent(INST, runtime="podman")
    jobs = {n: st.submit(n, "q", n) for n in ("short", "spaced", "upper", "local")}
    ds = st.wait_terminal(list(jobs.values()), 180)
    d = {n: ds[j] for n, j in jobs.items()}
    r = d["short"].get("statusReason") or ""
    ok(d["short"]["status"] == "FAILED" and r.startswith("CannotPullContainerError: barge-no-such-image:1: "),
       "a missing short name: CannotPullContainerError naming the image as given", r)
    for n, image in (("spaced", "Bad Image"), ("upper", "UPPER/case:1")):
        r = d[n].get("statusReason") or ""
        ok(d[n]["status"] == "FAILED" and r.startswith(f"CannotPullContainerError: {image}: ")
           and "invalid reference format" in r,
           f"'{image}': CannotPullContainerError (invalid reference format)", r)
        ok(len(d[n].get("attempts") or []) == 1,
           f"'{image}': the rule on CannotPullContainerError* ended it after one attempt",
           [a.get("statusReason") for a in d[n].get("attempts") or []])
    ok(d["local"]["status"] == "SUCCEEDED", "the test image by its short name runs (tried as localhost/<name>)",
       (d["local"]["status"], d["local"].get("statusReason")))
    left = container_image.containers_of(f"barge.instance={INST}")
    ok(left == [], "no container left behind", left)
    status = st.stop_services()
    ok(status.get(f"agent-{INST}") == 0, "the agent stops cleanly", status)


def main():
    container_image.podman_or_skip()
    common.scenario("ctrimg", names, "the container image-name scenario")
    common.finish()


if __name__ == "__main__":
    main()
