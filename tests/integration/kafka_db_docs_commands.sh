#!/bin/bash
# Every command the repository's Markdown files show is run
# (tools/doc_blocks.py over every *.md git knows: ```sh blocks run in a clean
# copy of the tree with the built binary on PATH; the blocks of one page share
# one private broker and MariaDB, started while the pages before it run;
# ```sh kafka db setup=NAME blocks first get the hidden setup NAME of
# tests/docs/setup.sh, a stopped or running `warden run` of the example pack
# over the sample with its admin API; ```synopsis blocks are checked against
# `warden CMD --help`; ```sh norun: REASON blocks are listed, never run, and an
# unmarked block with a command in it fails).  Fails with FILE:LINE of the
# block that broke.  Then the reference tables: every key of
# `warden run --help-config` (the config key tables) is documented in
# docs/operations.md with its default.
set -euo pipefail   # the docs runner's status, not tee's
WARDEN=${WARDEN:-$PWD/build/warden}
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 tools/doc_blocks.py $(git ls-files "*.md") | tee "${TMPDIR:-/tmp}/docs_commands.$$" \
    || { rm -f "${TMPDIR:-/tmp}/docs_commands.$$"; fail "a documented command failed (FILE:LINE above)"; }
n=$(grep -c '^not run: ' "${TMPDIR:-/tmp}/docs_commands.$$" || :)
rm -f "${TMPDIR:-/tmp}/docs_commands.$$"
[ "$n" -le 4 ] || fail "$n blocks are marked norun: keep that set tiny"

# The configuration reference: each section's keys and defaults.
"$WARDEN" run --help-config | python3 -c '
import re, sys
doc = open("docs/operations.md", encoding="utf-8").read()
def sections(text, head):
    out, cur = {}, None
    for line in text.split("\n"):
        m = re.match(head, line)
        if m:
            cur = m.group(1).split()[0]
            out[cur] = {}
            continue
        m = re.match(r"^\| `([^`]+)` \| [^|]* \| (`[^`]*`|—) \|", line)
        if m and cur:
            out[cur][m.group(1)] = m.group(2)
    return out
want = sections(sys.stdin.read(), r"^### (.*)$")
have = sections(doc, r"^#### (.*)$")
bad = []
for sec, keys in want.items():
    for k, default in keys.items():
        if k not in have.get(sec, {}):
            bad.append(f"{sec}.{k}: not in docs/operations.md")
        elif have[sec][k] != default:
            bad.append(f"{sec}.{k}: default {default} in warden, {have[sec][k]} in docs/operations.md")
for b in bad:
    print("FAIL: " + b)
n = sum(len(k) for k in want.values())
assert n > 30, n
print(f"config reference: {n} keys, {len(bad)} undocumented or wrong")
sys.exit(1 if bad else 0)
' || fail "docs/operations.md's configuration reference is out of date"
