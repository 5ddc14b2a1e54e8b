#!/bin/bash
# warden replay --html: one self-contained page, checked as source and as
# rendered by headless Chromium.  The fixture is a threshold change over
# seven hours of events with ground truth, a renamed field and a hostile
# event whose id, entity and reason carry markup (<script>, an <img>
# onerror, a closing </table>).  Source: no script, no external asset,
# every hostile string present as text only, one chart per rule that hit
# with a candidate and a baseline series whose totals are the JSON
# report's hits, the precision/recall, field-check and samples tables.
# Chromium: the dumped DOM has the same charts and no script element; the
# screenshot is not blank (many colours, the two series' colours drawn);
# no console message at all (a control page with a failing script shows
# that the check sees one).
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
command -v chromium >/dev/null || tools/deps.sh test
command -v chromium >/dev/null || fail "chromium is not installed (tools/deps.sh test)"

mkdir -p "$T/base" "$T/cand"
rule() {  # dir name threshold-expression verdict
  cat > "$1/$2.lua" <<LUA
return { name = "$2", version = 1, streams = { "pay" }, mode = "enforce", fields = { "user", "amount", "note" },
  evaluate = function(ev, ctx)
    local a = ev.amount
    if $3 then return ctx.$4{ entity = ev.user, reason = ev.note or "amount" } end
  end,
  tests = { { name = "small passes", events = { { type = "pay", user = "x", amount = 1 } }, expect = {} } } }
LUA
}
rule "$T/base" r "a > 10" flag
rule "$T/base" v "a > 10" flag
rule "$T/cand" r "a > 5 and a < 15" flag
rule "$T/cand" v "a > 10" block
cat > "$T/cand/f.lua" <<'LUA'
return { name = "f", version = 1, streams = { "pay" }, mode = "shadow", fields = { "amt" },
  evaluate = function(ev, ctx) if ev.amt then return ctx.flag{ entity = "x" } end end }
LUA
# 42 events every 10 minutes from midnight: 7 hourly buckets (the first and
# last events hit in both packs); amounts drawn with a fixed seed.
python3 - "$T" <<'PY'
import json, random, sys
t = sys.argv[1]
rnd = random.Random(11)
amounts = [rnd.choice([3, 7, 12, 20, 9, 30, 1, 2]) for _ in range(42)]
amounts[0] = amounts[41] = amounts[20] = 12
with open(t + "/pay.jsonl", "w") as f:
    for i in range(42):
        ev = {"type": "pay", "id": "p%02d" % i, "ts": "2026-11-20T%02d:%02d:00Z" % (i // 6, i % 6 * 10),
              "user": "u%d" % (i % 9), "amount": amounts[i]}
        if i == 20:   # amount 12: both r versions and v hit it, with another verdict
            ev.update(id="<script>alert(1)</script>", user="<img src=x onerror=alert(2)>",
                      note="</td></tr></table><script>alert(3)</script>&amp;")
        f.write(json.dumps(ev) + "\n")
with open(t + "/truth.jsonl", "w") as f:
    f.write('{"event_id":"p02","label":"abusive"}\n{"event_id":"p03","label":"benign"}\n'
            '{"entity":"u1","label":"abusive"}\n')
PY
"$W" replay -q --input "$T/pay.jsonl" --rules "$T/cand" --baseline "$T/base" --truth "$T/truth.jsonl" \
  --json "$T/r.json" --html "$T/page.html"
[ -s "$T/page.html" ] || fail "no page written"

# ---- the page's source ------------------------------------------------------
python3 - "$T/page.html" "$T/r.json" <<'PY' || fail "page source"
import json, sys
from html.parser import HTMLParser
page, rep = open(sys.argv[1], encoding="utf-8").read(), json.load(open(sys.argv[2]))

class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.tags = []; s.text = []; s.paths = []; s.svgs = 0; s.stack = []; s.cells = {}
    def handle_starttag(s, tag, attrs):
        a = dict(attrs); s.tags.append((tag, a)); s.stack.append(tag)
        if tag == "svg": s.svgs += 1
        if tag == "path" and "series" in a.get("class", ""): s.paths.append(a)
        if tag == "table": s.cur = a.get("id") or a.get("class"); s.cells.setdefault(s.cur, [])
    def handle_endtag(s, tag):
        if s.stack and s.stack[-1] == tag: s.stack.pop()
    def handle_data(s, d):
        s.text.append(d)
        if "td" in s.stack: s.cells[s.cur].append(d)
p = P(); p.feed(page)
def check(cond, what):
    if not cond: print("page source:", what); sys.exit(1)
tags = {t for t, _ in p.tags}
check(not tags & {"script", "iframe", "object", "embed", "link", "img", "base", "form"}, "active tags %s" % tags)
for t, a in p.tags:
    for k, v in a.items():
        check(not k.startswith("on"), "event handler attribute %s on %s" % (k, t))
        check(k not in ("src", "href") and "url(" not in (v or ""), "external reference %s=%s" % (k, v))
check("@import" not in page and "url(" not in page, "external CSS")
check("default-src 'none'" in page, "no Content-Security-Policy")
text = "".join(p.text)
for s in ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "</td></tr></table><script>alert(3)</script>&amp;"):
    check(s in text, "hostile string not shown as text: %r" % s)
check("&lt;script&gt;alert(1)&lt;/script&gt;" in page, "event id not escaped")
hit = [x for x in rep["rules"] if x["candidate"] and x["candidate"]["hits"] or x["baseline"] and x["baseline"]["hits"]]
check(p.svgs == len(hit) == 2, "charts: %d svg for %d rules with hits" % (p.svgs, len(hit)))
got = sorted((a["data-rule"], a["data-side"], int(a["data-total"])) for a in p.paths)
want = sorted((x["rule"], s, x[s]["hits"]) for x in hit for s in ("candidate", "baseline") if x[s])
check(got == want, "series totals %s != report %s" % (got, want))
check(all(a["d"].count("H") == 7 for a in p.paths), "not 7 hourly buckets: %s" % [a["d"] for a in p.paths])
check("hits per hour" in text and "event time (UTC)" in text, "axis labels")
pr = rep["truth"]["candidate"]["pack"]
row = p.cells["truth"]
i = row.index("whole pack")
check(row[i + 1:i + 4] == ["candidate", str(pr["tp"]), str(pr["fp"])], "truth table %s" % row[i:i + 8])
check("absent from every event of the rule's streams" in p.cells["fields"], "field check lacks the renamed field")
check("<script>alert(1)</script>" in p.cells["samples"], "samples lack the hostile event")
print("source: %d charts, %d series, %d tags, hostile strings as text" % (p.svgs, len(p.paths), len(p.tags)))
PY
ok "page source: no script or external asset, hostile id/entity/reason escaped, series totals = JSON hits, truth/fields/samples tables"

# ---- a long window: buckets widen, hits are kept --------------------------
# Two hits 2000 hours apart: hourly would be 2001 buckets (over the 1000 a
# chart draws), 2 h 1001, so 4 h buckets; each series still sums to its hits.
printf '%s\n' '{"type":"pay","id":"a","ts":0,"user":"u1","amount":12}' \
  '{"type":"pay","id":"b","ts":7200000000,"user":"u2","amount":12}' > "$T/long.jsonl"
"$W" replay -q --input "$T/long.jsonl" --rules "$T/cand" --baseline "$T/base" --html "$T/long.html"
grep -q '<h2>Hits per 4 h</h2>' "$T/long.html" || fail "long window: $(grep -o '<h2>Hits[^<]*' "$T/long.html")"
[ "$(grep -o 'data-total="[0-9]*"' "$T/long.html" | sort | uniq -c | tr -s ' ')" = " 4 data-total=\"2\"" ] \
  || fail "long window totals: $(grep -o 'data-total="[0-9]*"' "$T/long.html")"
[ "$(grep -o 'class="series candidate"[^>]*d="[^"]*"' "$T/long.html" | head -1 | grep -o H | wc -l)" = 501 ] \
  || fail "long window: not 501 buckets of 4 h"
ok "long window: 2000 h of hits drawn as 501 buckets of 4 h, totals kept"

# ---- an empty window: the page says so, no chart ----------------------------
"$W" replay -q --input "$T/pay.jsonl" --rules "$T/cand" --baseline "$T/base" --from -1h --html "$T/empty.html"
grep -q '<h2>Hits per hour</h2>' "$T/empty.html" && grep -q '<p>No hits in the window.</p>' "$T/empty.html" \
  || fail "empty window page: $(grep -o '<h2>Hits[^<]*' "$T/empty.html")"
grep -q '<svg' "$T/empty.html" && fail "empty window page has a chart"
ok "empty window: the page says no hits, no chart"

# ---- rendered by headless Chromium -----------------------------------------
chrome() { timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --hide-scrollbars --enable-logging=stderr --v=0 --user-data-dir="$T/profile" "$@"; }
chrome --window-size=1400,2400 --screenshot="$T/page.png" "file://$T/page.html" >/dev/null 2>"$T/shot.log" \
  || { cat "$T/shot.log"; fail "chromium --screenshot failed"; }
chrome --dump-dom "file://$T/page.html" >"$T/dom.html" 2>"$T/dom.log" \
  || { cat "$T/dom.log"; fail "chromium --dump-dom failed"; }
echo '<!DOCTYPE html><p>control</p><script>nosuchfunction()</script>' > "$T/control.html"
chrome --dump-dom "file://$T/control.html" >/dev/null 2>"$T/control.log" || fail "chromium on the control page"
grep -q 'CONSOLE.*nosuchfunction' "$T/control.log" || { cat "$T/control.log"; fail "the console check cannot see a script error"; }
if grep -h 'CONSOLE\|Content Security Policy\|Uncaught' "$T/shot.log" "$T/dom.log"; then
  fail "console messages while rendering the page"
fi
python3 - "$T/dom.html" "$T/r.json" <<'PY' || fail "dumped DOM"
import json, sys
from html.parser import HTMLParser
dom, rep = open(sys.argv[1], encoding="utf-8").read(), json.load(open(sys.argv[2]))
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.tags = []; s.text = []
    def handle_starttag(s, tag, attrs): s.tags.append((tag, dict(attrs)))
    def handle_data(s, d): s.text.append(d)
p = P(); p.feed(dom)
svgs = [a for t, a in p.tags if t == "svg"]
series = [a for t, a in p.tags if t == "path" and "series" in a.get("class", "")]
sides = sorted(a["data-side"] for a in series)
assert len(svgs) == 2, len(svgs)
assert sides == ["baseline", "baseline", "candidate", "candidate"], sides
assert not [t for t, _ in p.tags if t == "script"], "a script element in the DOM"
assert "<script>alert(1)</script>" in "".join(p.text)
print("DOM: %d svg charts, series %s, no script element" % (len(svgs), sides))
PY
python3 - "$T/page.png" <<'PY' || fail "screenshot"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, counts, i = bytearray(stride), set(), {}, 0
blue, orange = (0x1f, 0x6f, 0xb4), (0xe8, 0x71, 0x0a)
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = tuple(line[x:x + 3]); colours.add(px); counts[px] = counts.get(px, 0) + 1
    prev = line
print("screenshot %dx%d: %d distinct colours, candidate-blue px %d, baseline-orange px %d, white %.0f%%"
      % (w, h, len(colours), counts.get(blue, 0), counts.get(orange, 0), 100.0 * counts.get((255, 255, 255), 0) / (w * h)))
assert len(colours) >= 32, "blank-looking page: %d colours" % len(colours)
assert counts.get(blue, 0) >= 200 and counts.get(orange, 0) >= 100, "the series were not drawn"
assert counts.get((255, 255, 255), 0) < 0.98 * w * h, "almost all white"
PY
ok "headless Chromium: screenshot rendered with both series, DOM has the charts, no script, no console message"
