#!/bin/sh
# Checks that #include "room/..." lines go down the layers only:
#
#   cmd     → admin replay engine kafka storage rules state base
#   admin   → replay engine kafka storage rules state base
#   replay  → engine kafka storage rules state base
#   engine  → rules state base
#   kafka   → base
#   storage → base
#   rules   → state base
#   state   → base
#   base    → (nothing but itself)
#
# A room may always include its own headers.  Prints every include against
# the direction as "file:line: room may not include header" and exits 1.
# Usage: tools/lint_includes.sh [ROOT]   (default: the current directory)
ROOT=${1:-.}
allowed() {
  case "$1" in
    cmd)     echo "admin replay engine kafka storage rules state base" ;;
    admin)   echo "replay engine kafka storage rules state base" ;;
    replay)  echo "engine kafka storage rules state base" ;;
    engine)  echo "rules state base" ;;
    kafka)   echo "base" ;;
    storage) echo "base" ;;
    rules)   echo "state base" ;;
    state)   echo "base" ;;
    base)    echo "" ;;
  esac
}
bad=0
for room in base state rules engine kafka storage replay admin cmd; do
  [ -d "$ROOT/$room" ] || continue
  ok=" $room $(allowed "$room") "
  for f in "$ROOT/$room"/*.c "$ROOT/$room"/*.cpp "$ROOT/$room"/*.h; do
    [ -f "$f" ] || continue
    out=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r l; do
      line=${l%%:*}
      hdr=$(printf '%s\n' "$l" | sed 's/.*include[[:space:]]*"\([^"]*\)".*/\1/')
      case "$hdr" in ../*|*/../*) echo "${f#"$ROOT"/}:$line: $room may not include $hdr"; continue ;; esac
      to=${hdr%%/*}
      [ "$to" = "$hdr" ] && continue           # no room prefix: a local header
      case "$ok" in *" $to "*) ;; *) echo "${f#"$ROOT"/}:$line: $room may not include $hdr" ;; esac
    done)
    if [ -n "$out" ]; then echo "$out"; bad=1; fi
  done
done
exit $bad
