#!/bin/bash
# tests/integration/warden_test_cli.sh — `warden test` and `warden check`
# end to end on small packs written here, no servers:
#   - a passing pack: exit 0, the summary line;
#   - a failing case: exit 1, the rule, the case, "expected" and "actual"
#     lines with the hits, and the other rules' cases still pass;
#   - a rule error and an undeclared field fail the case with the message;
#   - rule files given one by one run only their own cases;
#   - a pack that does not load: exit 1 with file:line; usage: exit 2;
#   - warden check: exit 0 with a summary, 1 with every problem.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$BUILD/warden}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
[ -x "$WARDEN" ] || { echo "FAIL: no warden binary at $WARDEN"; exit 1; }

# run NAME CMD...: runs CMD with stdout+stderr in $tmp/NAME.out, sets rc
run() { local name=$1; shift; "$@" >"$tmp/$name.out" 2>&1; rc=$?; }
# has NAME TEXT: the output of run NAME contains TEXT (fixed string)
has() { grep -qF -- "$2" "$tmp/$1.out"; }
show() { sed 's/^/    | /' "$tmp/$1.out"; }

pack=$tmp/pack
mkdir -p "$pack/spam"
cat >"$pack/spam/burst.lua" <<'EOF'
return {
  name = "spam.burst",
  version = 2,
  streams = { "pin" },
  mode = "enforce",
  fields = { "user.id", "user.pins" },
  evaluate = function(ev, ctx)
    if ev.user.pins > 10 then
      return ctx.block{ entity = ev.user.id, reason = "burst", score = 0.9 }
    end
  end,
  tests = {
    { name = "quiet user passes", events = { { user = { id = "u1", pins = 2 } } }, expect = {} },
    { name = "burst is blocked",
      events = { { user = { id = "u1", pins = 2 } }, { user = { id = "u2", pins = 11 } } },
      expect = { { verdict = "block", entity = "u2", reason = "burst", event = 2 } } },
  },
}
EOF
cat >"$pack/shadow.lua" <<'EOF'
return {
  name = "spam.shadow_watch",
  version = 1,
  streams = { "pin" },
  mode = "shadow",
  fields = { "user.id" },
  evaluate = function(ev, ctx)
    return ctx.flag{ entity = ev.user.id }
  end,
  tests = {
    { name = "flags everyone", events = { { user = { id = "u7" } } },
      expect = { { verdict = "flag", entity = "u7", mode = "shadow" } } },
  },
}
EOF

# 1. everything passes
run pass "$WARDEN" test "$pack"
if [ "$rc" = 0 ] && has pass "3 cases in 2 rules: 3 ok, 0 FAILED"; then
    ok "passing pack: exit 0, $(tail -1 "$tmp/pass.out")"
else
    show pass; bad "passing pack: exit $rc"
fi
run passv "$WARDEN" test -v "$pack"
if [ "$rc" = 0 ] && has passv "ok    spam.burst: burst is blocked"; then
    ok "-v lists passing cases"
else
    show passv; bad "-v: exit $rc"
fi

# 2. a failing case: the expectation no longer matches the rule
cp -r "$pack" "$tmp/failing"
sed -i 's/expect = { { verdict = "block", entity = "u2", reason = "burst", event = 2 } }/expect = { { verdict = "review", entity = "u2" } }/' \
    "$tmp/failing/spam/burst.lua"
grep -q 'verdict = "review"' "$tmp/failing/spam/burst.lua" || bad "could not break burst.lua"
run failing "$WARDEN" test "$tmp/failing"
if [ "$rc" = 1 ] && has failing "FAIL  spam.burst: burst is blocked" &&
   has failing "expected: review entity=\"u2\"" &&
   has failing "actual:   block entity=\"u2\" reason=\"burst\" score=0.9 (event 2)" &&
   has failing "3 cases in 2 rules: 2 ok, 1 FAILED" &&
   ! has failing "FAIL  spam.shadow_watch"; then
    ok "failing case: exit 1 with the rule, the case, expected and actual"
else
    show failing; bad "failing case: exit $rc or unreadable report"
fi

# 3. a hit where none is expected, and a missing one
cp -r "$pack" "$tmp/counts"
sed -i 's/pins = 2 } } }, expect = {} }/pins = 20 } } }, expect = {} }/' "$tmp/counts/spam/burst.lua"
run counts "$WARDEN" test "$tmp/counts"
if [ "$rc" = 1 ] && has counts "FAIL  spam.burst: quiet user passes" &&
   has counts "expected 0 hit(s), got 1" && has counts "actual:   block entity=\"u1\""; then
    ok "unexpected hit: exit 1 showing the actual hit"
else
    show counts; bad "unexpected hit: exit $rc"
fi

# 4. a rule error and an undeclared field fail their case with the message
cp -r "$pack" "$tmp/errors"
sed -i 's/if ev.user.pins > 10 then/if ev.user.pins > 10 and ev.user.age < 5 then/' "$tmp/errors/spam/burst.lua"
sed -i 's/fields = { "user.id" },/fields = { "user.name" },/' "$tmp/errors/shadow.lua"
run errors "$WARDEN" test "$tmp/errors"
if [ "$rc" = 1 ] && has errors "field 'user.age' is not declared in 'fields' of rule spam.burst" &&
   has errors "spam/burst.lua:8:" && has errors "field 'user.id' is not declared" &&
   has errors "FAIL  spam.shadow_watch: flags everyone"; then
    ok "undeclared fields: the cases fail with the field, the rule and file:line"
else
    show errors; bad "undeclared fields: exit $rc"
fi

# 5. rule files one by one
run onefile "$WARDEN" test "$pack/shadow.lua"
if [ "$rc" = 0 ] && has onefile "1 cases in 1 rules: 1 ok" && ! has onefile "spam.burst"; then
    ok "a rule file alone runs only its own cases"
else
    show onefile; bad "single rule file: exit $rc"
fi
run twofiles "$WARDEN" test "$tmp/failing/shadow.lua" "$tmp/failing/spam/burst.lua"
if [ "$rc" = 1 ] && has twofiles "3 cases in 2 rules: 2 ok, 1 FAILED"; then
    ok "two rule files: their cases, and the failure"
else
    show twofiles; bad "two rule files: exit $rc"
fi
run filter "$WARDEN" test -k shadow "$tmp/failing"
if [ "$rc" = 0 ] && has filter "1 cases in 1 rules: 1 ok"; then
    ok "-k runs only the matching rules"
else
    show filter; bad "-k: exit $rc"
fi

# 6. a pack that does not load, and usage errors
cp -r "$pack" "$tmp/broken"
printf 'return {\n  name = "x",\n  version = = 2,\n}\n' >"$tmp/broken/bad.lua"
run broken "$WARDEN" test "$tmp/broken"
if [ "$rc" = 1 ] && has broken "$tmp/broken/bad.lua:3:"; then
    ok "pack that does not load: exit 1 with file:line"
else
    show broken; bad "broken pack: exit $rc"
fi
run usage "$WARDEN" test
if [ "$rc" = 2 ]; then ok "no argument: exit 2"; else show usage; bad "no argument: exit $rc"; fi
run usage2 "$WARDEN" test --no-such-option "$pack"
if [ "$rc" = 2 ]; then ok "unknown option: exit 2"; else show usage2; bad "unknown option: exit $rc"; fi
run help "$WARDEN" test --help
if [ "$rc" = 0 ] && has help "usage: warden test"; then ok "--help: exit 0"; else show help; bad "--help: exit $rc"; fi

# 7. warden check
run check "$WARDEN" check "$pack"
if [ "$rc" = 0 ] && has check "ok, 2 rules on 1 streams (pin)"; then
    ok "check on a valid pack: $(head -1 "$tmp/check.out")"
else
    show check; bad "check valid pack: exit $rc"
fi
printf 'return {\n  name = "Bad",\n  version = 1,\n  streams = {},\n  mode = "on",\n  evaluate = 1,\n}\n' \
    >"$tmp/broken/worse.lua"
run check_bad "$WARDEN" check "$tmp/broken"
if [ "$rc" = 1 ] && has check_bad "$tmp/broken/bad.lua:3:" &&
   has check_bad "$tmp/broken/worse.lua:2: name \"Bad\"" &&
   has check_bad "$tmp/broken/worse.lua:4: 'streams' is empty" &&
   has check_bad "$tmp/broken/worse.lua:5: mode \"on\"" &&
   has check_bad "$tmp/broken/worse.lua:6: 'evaluate' must be a function"; then
    ok "check on a broken pack: exit 1 with every problem"
else
    show check_bad; bad "check broken pack: exit $rc"
fi

[ "$fails" = 0 ]
