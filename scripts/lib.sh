# Shared by scripts/*: paths, the cached installs, and small helpers.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AUDITLOG_CACHE:-$HOME/.cache/auditlog}
STACK_DIR=${AUDITLOG_STACK_DIR:-$ROOT/.stack}
# Apache Kafka's broker, from Maven Central: the one place its version is set
# (scripts/kafka/pom.xml takes it as -Dkafka.version; compose/ runs the same
# major version, which tests/integration/test_compose.py checks).
KAFKA_VERSION=4.4.0
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
REQS=$ROOT/scripts/requirements.txt
VENV=$CACHE/venv-$(sha256sum "$REQS" | cut -c1-12)
PY=$VENV/bin/python

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Apache Kafka's jars (kafka_2.13, kafka-server, kafka-tools and their
# dependencies), resolved once with Maven into $KAFKA_LIBS; Maven's own
# repository is kept under the cache too. About 20 s on a fresh machine.
ensure_kafka() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  command -v java >/dev/null || die "java is not installed; Apache Kafka $KAFKA_VERSION needs Java 17 or newer"
  command -v mvn >/dev/null || die "mvn (Maven) is not installed; it resolves Apache Kafka $KAFKA_VERSION from Maven Central"
  mkdir -p "$CACHE"
  local log=$CACHE/kafka-install.log
  say "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIBS (once per machine; log: $log)"
  (
    flock 9
    [ -f "$KAFKA_LIBS/.complete" ] && exit 0
    rm -rf "$KAFKA_LIBS"
    mvn -B -q -f "$ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$log" 2>&1 &&
      [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] &&
      touch "$KAFKA_LIBS/.complete"
  ) 9>"$CACHE/kafka.lock" || { tail -20 "$log" >&2; die "resolving Apache Kafka $KAFKA_VERSION failed; see $log"; }
}

# The Python venv: moto for S3, and the independent clients tests use.
ensure_venv() {
  [ -f "$VENV/.complete" ] && return 0
  command -v python3 >/dev/null || die "python3 is not installed"
  mkdir -p "$CACHE"
  local log=$CACHE/venv-install.log
  say "creating Python venv $VENV (once per requirements change; log: $log)"
  (
    flock 9
    [ -f "$VENV/.complete" ] && exit 0
    rm -rf "$VENV"
    python3 -m venv "$VENV" >"$log" 2>&1 &&
      "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQS" >>"$log" 2>&1 &&
      touch "$VENV/.complete"
  ) 9>"$CACHE/venv.lock" || { tail -20 "$log" >&2; die "installing Python packages failed; see $log"; }
}

# What building needs beyond the Rust toolchain: OpenSSL headers for
# librdkafka's TLS (rdkafka's `ssl` feature) and pkg-config to find them.
ensure_build_deps() {
  local missing=()
  for pkg in libssl-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install build-deps "${missing[@]}"
}

# Builds the auditlog binary (dev profile, shared with `cargo test`).
ensure_binary() {
  ensure_build_deps
  say "building auditlog"
  (cd "$ROOT" && cargo build --quiet --bin auditlog) || die "cargo build failed"
  AUDITLOG_BIN=$ROOT/target/debug/auditlog
  export AUDITLOG_BIN
}

# A Debian package, installed once, system-wide, through apt, unless its
# command is already on PATH: ensure_apt PACKAGE COMMAND.
ensure_apt() {
  local pkg=$1 cmd=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  apt_install "$pkg" "$pkg"
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd is still not on PATH after installing $pkg"
}

# apt_install LOGNAME PACKAGE...: system-wide, through apt (sudo unless root).
apt_install() {
  local log=$CACHE/$1-install.log sudo=""
  shift
  say "installing Debian's $* (once; log in $log)"
  [ "$(id -u)" = 0 ] || sudo="sudo"
  mkdir -p "$CACHE"
  { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@"; } \
    >"$log" 2>&1 || { tail -20 "$log" >&2; die "installing $* with apt failed"; }
}

# Debian's Chromium renders `verify --format html` headless in a test;
# HAProxy balances the gateways in scripts/chaos.
ensure_chromium() { ensure_apt chromium chromium; }
ensure_haproxy() { ensure_apt haproxy haproxy; }
# litewitness (test_litewitness.py) signs through ssh-agent.
ensure_openssh_client() { ensure_apt openssh-client ssh-agent; }
