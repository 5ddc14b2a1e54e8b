#!/bin/bash
# The include direction between rooms (tools/lint_includes.sh): clean on the
# tree, and failing, with file:line, on includes planted against it.
set -eu
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

tools/lint_includes.sh >"$T/out" 2>&1 || { cat "$T/out"; fail "the tree has includes against the direction"; }
ok "the tree's includes all go down the layers"

for room in base state rules engine kafka storage replay admin cmd; do
  [ -d "$room" ] && cp -r "$room" "$T/"
done
# A base utility reaching up into the commands, state into rules, storage
# sideways into the engine: each is refused and named.
printf '#include "cmd/cmd.h"\n' >"$T/base/planted.c"
printf '/* x */\n#include "rules/rule_pack.h"\n' >"$T/state/planted.h"
printf '#include "engine/eng_engine.h"\n' >>"$T/storage/store.c"
line=$(wc -l <"$T/storage/store.c")
if tools/lint_includes.sh "$T" >"$T/out" 2>&1; then fail "planted includes passed the lint"; fi
grep -qx 'base/planted.c:1: base may not include cmd/cmd.h' "$T/out" || { cat "$T/out"; fail "base→cmd not reported"; }
grep -qx 'state/planted.h:2: state may not include rules/rule_pack.h' "$T/out" || { cat "$T/out"; fail "state→rules not reported"; }
grep -qx "storage/store.c:$line: storage may not include engine/eng_engine.h" "$T/out" || { cat "$T/out"; fail "storage→engine not reported"; }
[ "$(wc -l <"$T/out")" = 3 ] || { cat "$T/out"; fail "expected exactly the 3 planted includes"; }
ok "planted includes against the direction are refused with file:line"

# A path that climbs out of the room is refused too.
rm "$T/base/planted.c" "$T/state/planted.h"; sed -i '$d' "$T/storage/store.c"
printf '#include "../cmd/cmd.h"\n' >"$T/rules/planted.c"
if tools/lint_includes.sh "$T" >"$T/out" 2>&1; then fail "a ../ include passed the lint"; fi
grep -q 'rules/planted.c:1: rules may not include ../cmd/cmd.h' "$T/out" || { cat "$T/out"; fail "../ not reported"; }
ok "relative includes that leave the room are refused"
