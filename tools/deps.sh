#!/bin/sh
# Installs the Debian packages warden needs, when missing.
#   tools/deps.sh build   what compiling needs (compiler, -dev libraries)
#   tools/deps.sh test    that, plus the servers and tools of the test suite
# Idempotent: a dpkg query per package, apt-get only when something lacks.
set -e
BUILD_PKGS="build-essential pkg-config librdkafka-dev liblua5.4-dev libmariadb-dev
libcurl4-openssl-dev libjansson-dev libcmocka-dev libsimdjson-dev libssl-dev libmicrohttpd-dev"
TEST_PKGS="mariadb-server mariadb-client kcat valgrind cppcheck clang-tidy clang
openjdk-17-jre-headless maven curl python3 prometheus time chromium libclang-rt-14-dev"
case "${1:-build}" in
  build) PKGS="$BUILD_PKGS" ;;
  test)  PKGS="$BUILD_PKGS $TEST_PKGS" ;;
  *) echo "usage: tools/deps.sh build|test" >&2; exit 2 ;;
esac
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
# Java and Maven may come from elsewhere on the machine (a JDK in /opt, say).
for p in openjdk-17-jre-headless maven; do
  case "$missing" in *" $p"*)
    tool=java; [ "$p" = maven ] && tool=mvn
    command -v "$tool" >/dev/null 2>&1 && missing=$(echo "$missing" | sed "s/ $p//") ;;
  esac
done
[ -z "$(echo "$missing" | tr -d ' ')" ] && exit 0
echo "deps: installing$missing"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
