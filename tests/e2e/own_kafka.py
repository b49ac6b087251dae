"""own_kafka.py: a Kafka of a test's own (scripts/kafka.sh under the build tree), for the tests
that need another shape than the fixture broker: a cluster, TLS and SASL (test_kafka_*.py)."""
import os
import shutil
import subprocess
import tempfile

import common
from common import ok, log

SCRIPT = os.path.join(common.SOURCE_DIR, "scripts", "kafka.sh")


def kafka_sh(*args, timeout=240):
    """scripts/kafka.sh ARGS (brokers of 128-512 MiB heap unless KAFKA_HEAP_OPTS says); logged."""
    env = dict(os.environ, KAFKA_HEAP_OPTS=os.environ.get("KAFKA_HEAP_OPTS", "-Xms128m -Xmx512m"))
    p = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=timeout, env=env)
    log("  kafka.sh " + " ".join(args) + ": " + (p.stdout + p.stderr).strip().replace("\n", "\n    "))
    return p


def run(name, what, start_args, body):
    """Starts `kafka.sh start --dir DIR START_ARGS` in a new DIR under the build tree, points
    BARGE_BROKERS at it and calls body(DIR, bootstrap); stops it whatever happens (and removes DIR
    unless a check failed or BARGE_KEEP is set); then common.finish()."""
    kdir = tempfile.mkdtemp(prefix=f"kafka-{name}-", dir=common.BUILD if os.path.isdir(common.BUILD) else None)
    try:
        r = kafka_sh("start", "--dir", kdir, *start_args)
        if ok(r.returncode == 0, f"kafka.sh starts {what}", r.stderr[-2000:]):
            with open(os.path.join(kdir, "bootstrap")) as f:
                bootstrap = f.read().strip()
            os.environ["BARGE_BROKERS"] = bootstrap
            body(kdir, bootstrap)
    finally:
        r = kafka_sh("stop", "--dir", kdir, timeout=120)
        ok(r.returncode == 0, f"kafka.sh stops {what}")
        if not common._results["fail"] and not os.environ.get("BARGE_KEEP"):
            shutil.rmtree(kdir, ignore_errors=True)
    common.finish()
