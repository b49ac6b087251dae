#!/usr/bin/env bash
# test_config_docs.sh: docs/configuration.md is what `barge help-config` generates from the option
# tables (the same tables that parse the command lines and print --help). It fails when someone
# changed a table, a default or a help line without regenerating the page:
#   build/barge help-config > docs/configuration.md
set -u
bin=${BARGE_BIN:?BARGE_BIN is not set}
src=${BARGE_SOURCE_DIR:?BARGE_SOURCE_DIR is not set}
passed=0 failed=0
ok() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok: $2"; else failed=$((failed + 1)); echo "FAIL: $2"; fi; }

gen=$(mktemp)
trap 'rm -f "$gen"' EXIT
"$bin" help-config >"$gen"
ok $? "barge help-config runs"
diff -u "$src/docs/configuration.md" "$gen"
ok $? "docs/configuration.md is up to date with the option tables (regenerate: build/barge help-config > docs/configuration.md)"
# --help comes from the same rows: a default in the page is the one --help states
"$bin" scheduler --help | grep -q -- "--tick-ms MS .*(default 1000)"
ok $? "barge scheduler --help states the table's default"
grep -q '| `--tick-ms MS` | `1000` |' "$src/docs/configuration.md"
ok $? "docs/configuration.md states the same default"
# every BARGE_* variable the code reads is in the page's table of environment variables (a
# newcomer looking for BARGE_SECRETS_DIR found it only deep in docs/containers.md)
undocumented=""
for v in $(grep -rhoE 'getenv\("BARGE_[A-Z_]+"\)' "$src"/{lib,cmd,producers,consumers,scheduler,agent,provisioner,client} |
  sed -E 's/getenv\("(.*)"\)/\1/' | sort -u); do
  grep -qE "^\| [^|]*\`$v\`" "$src/docs/configuration.md" || undocumented="$undocumented $v"
done
[ -z "$undocumented" ]
ok $? "docs/configuration.md lists every BARGE_* variable the code reads${undocumented:+ (missing:$undocumented)}"
# the top-level help: one heading for the AWS Batch operations, and their summaries in the same
# column as the services'
top=$("$bin" --help)
[ "$(grep -c '^AWS Batch op.*:$' <<<"$top")" -eq 1 ] &&
  ! grep -q '^AWS Batch commands' <<<"$top"
ok $? "barge --help heads the AWS Batch operations once"
col() { awk -v name="$1" '$1 == name { print index($0, $2); exit }' <<<"$top"; }
[ -n "$(col scheduler)" ] && [ "$(col scheduler)" = "$(col submit-job)" ]
ok $? "barge --help: services' and operations' summaries start in one column ($(col scheduler) vs $(col submit-job))"
# the installed docs (cmake --install, scripts/install.sh): README.md's links to docs/*.md and the
# pages' links to each other resolve there as in the source tree (the pages were installed beside
# README.md, not in docs/, so every README link to docs/ was dead in PREFIX/share/doc/barge)
build=${BARGE_BUILD_DIR:-$(dirname "$bin")}
inst=$(mktemp -d)
trap 'rm -f "$gen"; rm -rf "$inst"' EXIT
if cmake --install "$build" --prefix "$inst" >/dev/null 2>&1; then
  doc=$(find "$inst" -name README.md -path '*doc*' | head -1)
  dead=""
  for f in "$doc" "$(dirname "$doc")"/docs/*.md; do
    [ -f "$f" ] || { dead="$dead [no $f]"; continue; }
    for l in $(grep -o '](\(docs/\)\?[a-z-]*\.md' "$f" | sed 's/^](//'); do
      [ -f "$(dirname "$f")/$l" ] || dead="$dead [$(basename "$f"): $l]"
    done
  done
  [ -n "$doc" ] && [ -z "$dead" ]
  ok $? "the installed README.md and docs link to pages that are installed${dead:+:$dead}"
else
  ok 1 "cmake --install $build"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
