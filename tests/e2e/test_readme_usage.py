#!/usr/bin/env python3
"""test_readme_usage.py: the README's "Using it" section, followed literally. barge is installed
the README's way (`cmake --install` into a fresh prefix, as scripts/install.sh does), then the
section's ```bash block is taken from README.md as it is (so this test fails when the README
drifts) and run by bash -e in a fresh environment: a new HOME (so BARGE_HOME is the default
~/.barge), PATH = the prefix's bin and the system's, and only BARGE_BROKERS / BARGE_TOPIC_PREFIX
pointing at the test broker (so `barge up` does not start a Kafka of its own). The block must run
to its end, the job it submits must SUCCEED and print its output, and `barge usage` must show it."""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

SOURCE = os.environ.get("BARGE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BARGE_BUILD_DIR", os.path.join(SOURCE, "build"))


def usage_block():
    """The first ```bash block after the heading "## Using it" of README.md."""
    with open(os.path.join(SOURCE, "README.md")) as f:
        text = f.read()
    section = text.split("\n## Using it\n", 1)
    m = re.search(r"```bash\n(.*?)\n```", section[1], re.S) if len(section) == 2 else None
    return m.group(1) if m else None


def main():
    tmp = tempfile.mkdtemp(prefix="barge-readme-")
    prefix, home = os.path.join(tmp, "prefix"), os.path.join(tmp, "home")
    os.makedirs(home)
    env = {"HOME": home, "PATH": f"{prefix}/bin:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "BARGE_BROKERS": common.brokers(), "BARGE_TOPIC_PREFIX": f"treadme{random.randrange(1 << 30):x}."}
    failed = False
    try:
        inst = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], capture_output=True, text=True)
        ok(inst.returncode == 0 and os.access(f"{prefix}/bin/barge", os.X_OK), "cmake --install puts barge in PREFIX/bin",
           inst.stderr[-2000:])
        compl = f"{prefix}/share/bash-completion/completions/barge"
        c = subprocess.run(["bash", "-c", f"source {compl} && COMP_WORDS=(barge submit-job --job-q) COMP_CWORD=2 && "
                            "_barge && echo ${COMPREPLY[@]}"], capture_output=True, text=True)
        ok(c.stdout.strip() == "--job-queue", "the installed bash completion completes a flag", c.stdout + c.stderr)
        block = usage_block()
        ok(block and "barge up" in block and "barge down" in block, "README.md has the usage block", block)
        if not block:
            return
        log("  running README.md's usage block:\n    " + block.replace("\n", "\n    "))
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], env=env, capture_output=True, text=True,
                           timeout=300, cwd=home)
        log("  output (tail):\n    " + "\n    ".join((r.stdout + r.stderr).splitlines()[-40:]))
        failed = not ok(r.returncode == 0, f"the block runs to its end in a fresh shell (exit {r.returncode})")
        ok('"SUCCEEDED"' in r.stdout and '"status": "SUCCEEDED"' in r.stdout, "the README's job SUCCEEDED")
        ok("\nhello\n" in "\n" + r.stdout, "barge logs printed its output")
        ok(re.search(r"^q\s+1\s", r.stdout, re.M), "barge usage shows the job in queue q")
        ok(re.search(r"^provisioner\s+\d+\s+up", r.stdout, re.M), "barge status shows the provisioner up")
        ok('"status": "VALID"' in r.stdout, "the MANAGED compute environment is VALID")
    except Exception as e:
        failed = ok(False, "the test ran to its end", repr(e)) or True
    finally:
        subprocess.run([f"{prefix}/bin/barge", "down"], env=env, capture_output=True, timeout=120)
        if failed:
            for name in ("up", "scheduler", "provisioner", "api"):
                p = os.path.join(home, ".barge", f"{name}.log")
                if os.path.exists(p):
                    with open(p) as f:
                        log(f"--- {p} (tail)\n" + "".join(f.readlines()[-30:]))
        shutil.rmtree(tmp, ignore_errors=True)
    common.finish()


if __name__ == "__main__":
    main()
