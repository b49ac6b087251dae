#!/usr/bin/env bash
# test_compose.sh: docker-compose.yml and the Dockerfile, checked without a container engine.
# - `docker-compose config -q` (Debian's docker-compose 1.29 parses and validates the file
#   without an engine) accepts the file, with and without its profiles;
# - the services are there: kafka (apache/kafka 4.x, KRaft broker+controller), registry
#   (Apicurio Registry 3.x), init (one-shot), scheduler, agents, and provisioner and accounting
#   in the "full" profile; Barge's services are built from the Dockerfile and reach Kafka and
#   the registry by service name; every barge subcommand and option they use exists in the
#   built binary; the init script is valid sh;
# - the Dockerfile: multi-stage on Debian bookworm, its build stage installs the -dev packages
#   scripts/setup.sh installs, every COPY source exists and is not excluded by .dockerignore,
#   the runtime stage copies the binary from the build stage.
set -uo pipefail
src=${BARGE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${BARGE_BIN:-$src/build/barge}
compose=$src/docker-compose.yml
dockerfile=$src/Dockerfile
pass=0 fail=0
ok() { # ok CONDITION-STATUS WHAT [DETAIL]
  if [ "$1" -eq 0 ]; then pass=$((pass + 1)); echo "  ok   $2"
  else fail=$((fail + 1)); echo "  FAIL $2${3:+: $3}"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v docker-compose >/dev/null; then
  echo "docker-compose is not installed (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1
fi
cd "$src" || exit 1

# ---- docker-compose.yml
out=$(docker-compose -f "$compose" config -q 2>&1); ok $? "docker-compose config -q accepts docker-compose.yml" "$out"
out=$(docker-compose -f "$compose" --profile full --profile tools config -q 2>&1); ok $? "... with every profile" "$out"
docker-compose -f "$compose" --profile full --profile tools config > "$tmp/resolved.yml" 2>"$tmp/err"
ok $? "docker-compose config resolves the file" "$(cat "$tmp/err")"

python3 - "$tmp/resolved.yml" "$bin" > "$tmp/checks" 2>&1 <<'EOF'
import re, subprocess, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
bin_ = sys.argv[2]
svcs = doc.get("services", {})
def say(ok, what, detail=""):
    print(("ok" if ok else "FAIL") + "\t" + what + ("\t" + str(detail) if detail and not ok else ""))
for name in ("kafka", "registry", "init", "scheduler", "agent-1", "agent-2", "provisioner", "accounting"):
    say(name in svcs, f"service {name} is defined", sorted(svcs))
k = svcs.get("kafka", {})
say(re.fullmatch(r"apache/kafka:4\.\d+\.\d+", k.get("image", "")) is not None, "kafka runs apache/kafka:4.x", k.get("image"))
kenv = k.get("environment", {})
say("controller" in kenv.get("KAFKA_PROCESS_ROLES", "") and "broker" in kenv.get("KAFKA_PROCESS_ROLES", ""),
    "kafka is a KRaft broker+controller", kenv.get("KAFKA_PROCESS_ROLES"))
say(bool(kenv.get("CLUSTER_ID")) and "CONTROLLER" in kenv.get("KAFKA_CONTROLLER_LISTENER_NAMES", "")
    and "@kafka:" in kenv.get("KAFKA_CONTROLLER_QUORUM_VOTERS", ""), "KRaft cluster id, controller listener and quorum")
say(str(kenv.get("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR")) == "1"
    and str(kenv.get("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR")) == "1",
    "single-node replication factors (transactions need them)")
say(str(kenv.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE")).lower() == "false", "no broker auto-creation of topics")
say("healthcheck" in k, "kafka has a healthcheck")
r = svcs.get("registry", {})
say(re.fullmatch(r"apicurio/apicurio-registry:3\.\d+\.\d+", r.get("image", "")) is not None,
    "registry runs Apicurio Registry 3.x", r.get("image"))
# the records carry the registry's ids: a registry that forgets them on a restart (in-memory
# storage, its default) leaves what was written undecodable (tests/e2e/test_registry_restart.py)
renv = r.get("environment", {})
say(renv.get("APICURIO_STORAGE_KIND") == "kafkasql" and renv.get("APICURIO_KAFKASQL_BOOTSTRAP_SERVERS") == "kafka:9092",
    "the registry keeps its schemas in Kafka (kafkasql storage on kafka:9092)", renv)
say(r.get("depends_on", {}).get("kafka", {}).get("condition") == "service_healthy",
    "the registry starts once Kafka is healthy", r.get("depends_on"))
logdir = kenv.get("KAFKA_LOG_DIRS", "")
def mount(v):  # (source, target) of a short ("src:dst[:mode]") or long volume entry
    if isinstance(v, dict):
        return v.get("source"), v.get("target")
    parts = str(v).split(":")
    return (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
vols = [v for v in k.get("volumes", []) if mount(v)[1] == logdir and mount(v)[0] in (doc.get("volumes") or {})]
say(bool(logdir) and bool(vols), "Kafka's log dir is on a named volume (kept across down and up)",
    (logdir, k.get("volumes")))
subcommands = set()
for name in ("init", "scheduler", "agent-1", "agent-2", "provisioner", "accounting"):
    s = svcs.get(name, {})
    b = s.get("build", {})
    say(isinstance(b, dict) and b.get("dockerfile", "Dockerfile") == "Dockerfile", f"{name} is built from the Dockerfile", b)
    env = s.get("environment", {})
    say(env.get("BARGE_BROKERS") == "kafka:9092", f"{name} reaches Kafka as kafka:9092", env.get("BARGE_BROKERS"))
    say(str(env.get("BARGE_SCHEMA_REGISTRY_URL", "")).startswith("http://registry:8080/"),
        f"{name} uses the schema registry", env.get("BARGE_SCHEMA_REGISTRY_URL"))
    if name != "init":
        dep = s.get("depends_on", {})
        say(isinstance(dep, dict) and dep.get("init", {}).get("condition") == "service_completed_successfully",
            f"{name} starts after init completed", dep)
        cmd = s.get("command", [])
        say(isinstance(cmd, list) and cmd, f"{name} has a command", cmd)
        if cmd:
            subcommands.add((cmd[0], tuple(a for a in cmd[1:] if a.startswith("--"))))
ids = [svcs[a]["command"][svcs[a]["command"].index("--instance-id") + 1] for a in ("agent-1", "agent-2")
       if "--instance-id" in svcs.get(a, {}).get("command", [])]
say(len(ids) == 2 and len(set(ids)) == 2 and all(re.fullmatch(r"i-[0-9a-f]{17}", i) for i in ids),
    "agents have distinct EC2-style instance ids", ids)
init = svcs.get("init", {})
say(init.get("restart") == "no", "init is a one-shot (restart: no)", init.get("restart"))
script = " ".join(init.get("command", [])).replace("$$", "$")
open(sys.argv[1] + ".init.sh", "w").write(script + "\n")
for verb in re.findall(r"\bbarge ([a-z-]+)", script):
    subcommands.add((verb, tuple(re.findall(r"(--[a-z-]+)", script.split("barge " + verb, 1)[1].split("barge ")[0]))))
# every barge subcommand and option used exists in the built binary
for verb, flags in sorted(subcommands):
    try:
        h = subprocess.run([bin_, verb, "--help"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        say(False, f"barge {verb} --help runs", e)
        continue
    if h.returncode != 0 and "not implemented" in h.stderr:  # a service still being written
        say(True, f"barge {verb} is a command (not implemented yet: its options are not checked)")
        continue
    say(h.returncode == 0, f"barge {verb} exists", h.stderr.strip())
    for f in flags:
        say(f in h.stdout, f"barge {verb} takes {f}")
EOF
ok $? "the compose checks ran" "$(tail -5 "$tmp/checks")"
while IFS=$'\t' read -r st what detail; do
  [ "$st" = ok ]; ok $? "$what" "${detail:-}"
done < <(grep -E '^(ok|FAIL)	' "$tmp/checks")
out=$(sh -n "$tmp/resolved.yml.init.sh" 2>&1); ok $? "the init command is valid sh" "$out"

# ---- Dockerfile
froms=$(grep -Ec '^FROM ' "$dockerfile"); [ "$froms" -ge 2 ]; ok $? "the Dockerfile is multi-stage ($froms stages)"
! grep -E '^FROM ' "$dockerfile" | grep -vq 'debian:bookworm'; ok $? "every stage is Debian bookworm"
for pkg in $(sed -n '/^build_pkgs=(/,/)/p' "$src/scripts/setup.sh" | grep -Eo 'lib[a-z0-9+-]*-dev' | sort -u) cmake pkg-config; do
  grep -q -- "$pkg" "$dockerfile"; ok $? "the build stage installs $pkg"
done
grep -Eq '^COPY --from=build .*/barge ' "$dockerfile"; ok $? "the runtime stage copies the binary from the build stage"
grep -Eq '^ENTRYPOINT \[.*barge' "$dockerfile"; ok $? "the image's entrypoint is barge"
grep -Eq '^USER ' "$dockerfile"; ok $? "the runtime runs as an unprivileged user"
ignores=()
[ -f "$src/.dockerignore" ] && mapfile -t ignores < <(grep -Ev '^\s*(#|$)' "$src/.dockerignore")
ignored() { # ignored PATH: is PATH (relative to the context) excluded by .dockerignore?
  local pat
  for pat in "${ignores[@]}"; do
    pat=${pat#/}; pat=${pat#\*\*/}
    # shellcheck disable=SC2053
    if [[ "$1" == $pat || "$1" == $pat/* || "${1##*/}" == $pat ]]; then return 0; fi
  done
  return 1
}
copied=()
while read -r line; do
  # shellcheck disable=SC2206
  words=($line)
  [[ "${words[1]}" == --from=* ]] && continue
  args=("${words[@]:1}")
  for s in "${args[@]:0:${#args[@]}-1}"; do
    [[ "$s" == --* ]] && continue
    p=${s%/}
    copied+=("$p")
    [ -e "$src/$p" ]; ok $? "COPY source $s exists"
    if [ "$p" != . ]; then ! ignored "$p"; ok $? "COPY source $s is not excluded by .dockerignore"; fi
  done
done < <(grep -E '^COPY ' "$dockerfile")
[ "${#copied[@]}" -gt 0 ]; ok $? "the Dockerfile copies the sources (${copied[*]})"
# everything the CMake build needs is in the context and copied
mapfile -t needed < <(printf '%s\n' CMakeLists.txt schemas
  grep -Eo '^add_subdirectory\(([a-z_]+)\)' "$src/CMakeLists.txt" | sed -E 's/add_subdirectory\((.*)\)/\1/')
for d in "${needed[@]}"; do
  in_copy=1
  for c in "${copied[@]}"; do [[ "$c" == . || "$c" == "$d" ]] && in_copy=0; done
  ok $in_copy "the Dockerfile copies $d (the build needs it)"
  ! ignored "$d"; ok $? ".dockerignore keeps $d in the build context"
done
# a folder the build includes headers from (e.g. include/) must be in the context too
for d in $(grep -rhoE '\$\{PROJECT_SOURCE_DIR\}/[a-z_]+' "$src"/CMakeLists.txt "$src"/*/CMakeLists.txt 2>/dev/null |
           sed 's|.*}/||' | sort -u); do
  [ -e "$src/$d" ] || continue
  ! ignored "$d"; ok $? ".dockerignore keeps $d (referenced by a CMakeLists.txt) in the build context"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
