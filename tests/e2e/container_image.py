"""container_image.py: what the container tests share (docs/containers.md, "Testing").

- podman_or_skip(): exits 77 (CTest's skip code, with the reason printed) unless podman can run a
  container here (installed by scripts/setup.sh; needs root and runc).
- ensure_image(): the local test image, built once from Debian's busybox-static with
  `podman import` (no registry is reachable): /bin/busybox and its applets, /etc/passwd with
  root, nobody (65534) and a user `batch` (1000), /tmp. A second call finds it in podman's
  storage and returns at once.
- ensure_stress_image(): the test image plus Debian's stress-ng and the libraries it links
  (found with ldd), for the AWS Batch workshop's stress-ng job; None when stress-ng is missing.
- containers_of(label): the ids of containers (running or not) with that label.
"""
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

IMAGE = "localhost/barge-test-busybox:3"  # bump the tag when the contents change
STRESS_IMAGE = "localhost/barge-test-stress:1"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def podman(*args, check=True, timeout=120):
    p = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def podman_or_skip():
    if shutil.which("podman") is None:
        skip("podman is not installed (scripts/setup.sh installs it)")
    if os.geteuid() != 0:
        skip("the container tests need root (podman with cgroup limits)")
    if not os.path.exists("/bin/busybox"):
        skip("busybox-static is not installed (scripts/setup.sh installs it)")
    try:
        ensure_image()
        p = podman("run", "--rm", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000", IMAGE, "true", check=False)
    except Exception as e:  # noqa: BLE001 - any failure to run podman is a reason to skip
        skip(f"podman cannot run a container here: {e}")
    if p.returncode != 0:
        skip(f"podman cannot run a container here: {p.stderr.strip()[:300]}")


def ensure_image():
    return _build(IMAGE, [])


def ensure_stress_image():
    exe = shutil.which("stress-ng")
    if exe is None:
        return None
    exe = os.path.realpath(exe)
    libs = [exe]
    for line in subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            libs.append(path)
    return _build(STRESS_IMAGE, libs)


def _build(image, extra_files):
    """The busybox root file system, plus extra_files at their host paths (symlinks resolved)."""
    if podman("image", "exists", image, check=False).returncode == 0:
        return image
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="barge-img-") as d:
        root = os.path.join(d, "rootfs")
        for sub in ("bin", "etc", "tmp", "data", "proc", "sys", "dev"):
            os.makedirs(os.path.join(root, sub))
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for a in applets:
            if a != "busybox" and not os.path.exists(os.path.join(root, "bin", a)):
                os.symlink("busybox", os.path.join(root, "bin", a))
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\nbatch:x:1000:1000:batch:/tmp:/bin/sh\n"
                    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        with open(os.path.join(root, "etc", "group"), "w") as f:
            f.write("root:x:0:\nbatch:x:1000:\nnogroup:x:65534:\n")
        with open(os.path.join(root, "etc", "image-marker"), "w") as f:
            f.write("barge-test-image\n")
        for f in extra_files:
            dst = os.path.join(root, f.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.exists(dst):
                shutil.copy2(os.path.realpath(f), dst)
        if extra_files:  # stress-ng as /bin/stress-ng too
            os.symlink(extra_files[0], os.path.join(root, "bin", "stress-ng")) \
                if not os.path.exists(os.path.join(root, "bin", "stress-ng")) else None
        tar = os.path.join(d, "rootfs.tar")
        with tarfile.open(tar, "w") as t:
            t.add(root, arcname=".")
        podman("import", "--change", "ENV=PATH=/bin:/usr/bin", tar, image)
    return image


def containers_of(label):
    p = podman("ps", "-a", "-q", "--filter", f"label={label}", check=False)
    return [x for x in p.stdout.split() if x]
