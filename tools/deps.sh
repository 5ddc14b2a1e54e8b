#!/bin/sh
# Installs the Debian packages warden builds and tests with, when missing.
# Idempotent: a dpkg query per package, apt-get only when something lacks.
set -e
PKGS="build-essential pkg-config librdkafka-dev liblua5.4-dev libmariadb-dev
libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev libcmocka-dev
libsimdjson-dev libssl-dev mariadb-server mariadb-client kcat valgrind cppcheck
openjdk-17-jre-headless maven curl python3"
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
