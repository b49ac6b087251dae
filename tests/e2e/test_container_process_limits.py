#!/usr/bin/env python3
"""test_container_process_limits.py: the process runtime (`barge agent --runtime process`)
enforces the same limits with a cgroup per attempt (docs/containers.md, "Limits"): the scenario
of test_container_limits.py on host processes. Over its memory: FAILED, 137, the OOM reason; one
vCPU of CPU quota; a timeout or terminate kills every process of the attempt, also one that left
its process group (the cgroup is swept). Skipped (77) without root or a writable cgroup tree."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_container_limits  # noqa: E402

if __name__ == "__main__":
    test_container_limits.run("process", "i-0c0a7a1e00000000c", "ctr-plimits")
