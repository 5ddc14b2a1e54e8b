#!/bin/bash
# tests/integration/eval_examples.sh — the example pack through the real
# binary, no servers:
#   1. `warden test examples/rules` passes;
#   2. `warden eval --strict` on examples/events/sample.jsonl writes exactly
#      examples/expected/sample.hits.jsonl (byte for byte), with no rejected
#      line and no rule error, and the same from stdin;
#   3. gen_events reproduces sample.jsonl byte for byte;
#   4. broken copies of the pack make `warden test` fail (non-zero) with a
#      readable report: the rule, the case, expected vs actual hits, or the
#      undeclared field.
# After a deliberate change of the pack or the sample, regenerate with
#   build/warden eval -q examples/rules examples/events/sample.jsonl \
#       > examples/expected/sample.hits.jsonl
# and review the diff (examples/README.md).
# suite: alone (eval --strict under the 50 ms wall-clock limit per rule call)
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$BUILD/warden}
PACK=examples/rules
SAMPLE=examples/events/sample.jsonl
EXPECTED=examples/expected/sample.hits.jsonl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

[ -x "$WARDEN" ] || { echo "FAIL: no warden binary at $WARDEN"; exit 1; }

# 1. the pack's own tests
if "$WARDEN" test "$PACK" >"$tmp/test.out" 2>&1; then
    ok "warden test $PACK: $(tail -1 "$tmp/test.out")"
else
    cat "$tmp/test.out"; bad "warden test $PACK"
fi

# 2. eval matches the checked-in hits
if "$WARDEN" eval --strict "$PACK" "$SAMPLE" >"$tmp/hits.jsonl" 2>"$tmp/eval.err"; then
    ok "warden eval --strict: $(head -1 "$tmp/eval.err")"
else
    rc=$?; head -40 "$tmp/eval.err"; bad "warden eval --strict exited $rc"
fi
if cmp -s "$tmp/hits.jsonl" "$EXPECTED"; then
    ok "eval output equals $EXPECTED ($(wc -l <"$EXPECTED") hits)"
else
    diff "$EXPECTED" "$tmp/hits.jsonl" | head -20
    bad "eval output differs from $EXPECTED (see the regenerate command in this script)"
fi
if "$WARDEN" eval -q "$PACK" - <"$SAMPLE" | cmp -s - "$EXPECTED"; then
    ok "eval from stdin gives the same hits"
else
    bad "eval from stdin differs from $EXPECTED"
fi

# 3. the sample is what the generator makes
GEN=$BUILD/examples/gen_events
if [ -x "$GEN" ]; then
    if "$GEN" --seed 1 --count 12000 | cmp -s - "$SAMPLE"; then
        ok "gen_events --seed 1 --count 12000 reproduces $SAMPLE"
    else
        bad "gen_events --seed 1 --count 12000 no longer reproduces $SAMPLE"
    fi
else
    bad "no $GEN"
fi

# 4. broken copies must fail, readably
#   a) a threshold changed: link_burst would block from the 26th pin on
cp -r "$PACK" "$tmp/broken"
sed -i 's/^local MAX_PINS_PER_HOUR = 20$/local MAX_PINS_PER_HOUR = 25/' "$tmp/broken/spam/link_burst.lua"
grep -q 'MAX_PINS_PER_HOUR = 25' "$tmp/broken/spam/link_burst.lua" || bad "could not break link_burst.lua"
if "$WARDEN" test "$tmp/broken" >"$tmp/broken.out" 2>&1; then
    bad "warden test passed on a pack with a changed threshold"
else
    rc=$?
    if grep -q 'spam.link_burst' "$tmp/broken.out" &&
       grep -q 'the 21st and 22nd pin in an hour are blocked' "$tmp/broken.out" &&
       grep -q 'link burst: 21 pins in 1h' "$tmp/broken.out" &&
       ! grep -q 'FAIL.*spam.shady_domain' "$tmp/broken.out"; then
        ok "changed threshold: warden test exits $rc naming the rule, the case and the missing hit"
    else
        cat "$tmp/broken.out"; bad "changed threshold: the failure report does not show the case and hits"
    fi
fi

#   b) a field read but no longer declared
cp -r "$PACK" "$tmp/undeclared"
sed -i 's/fields = { "user.id", "user.age_days", "pin.link" }/fields = { "user.id", "user.age_days" }/' \
    "$tmp/undeclared/spam/link_burst.lua"
if "$WARDEN" test "$tmp/undeclared" >"$tmp/undeclared.out" 2>&1; then
    bad "warden test passed although link_burst reads the undeclared pin.link"
else
    if grep -q 'spam.link_burst' "$tmp/undeclared.out" && grep -qi 'declared' "$tmp/undeclared.out" &&
       grep -q 'pin' "$tmp/undeclared.out"; then
        ok "undeclared field: warden test fails naming the rule and the field"
    else
        cat "$tmp/undeclared.out"; bad "undeclared field: the report does not name the rule and field"
    fi
fi

[ "$fails" = 0 ]
