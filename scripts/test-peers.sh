#!/usr/bin/env bash
# The Debian packages `npm test` drives as real peers, checked before the tests run (the one
# list: .ci/run and the README rely on it). Missing ones are installed with apt-get when this
# runs as root (non-interactive, bounded); otherwise it fails at once with the command to run.
# Never a browser download: the UI tests use Debian's chromium through playwright-core.
set -uo pipefail

PYTHON="${PYTHON:-/usr/bin/python3}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_py() { [ -x "$PYTHON" ] && "$PYTHON" -c "import $1" >/dev/null 2>&1; }

# package: how to tell it is there (what the tests call)
missing() {
  have_py pika || echo python3-pika                 # AMQP: pika client script
  have_py stomp || echo python3-stomp               # STOMP: stomp.py client script
  have_py paho.mqtt.client || echo python3-paho-mqtt # MQTT: paho client script
  have_cmd amqp-publish || echo amqp-tools          # AMQP: librabbitmq's command-line tools
  have_cmd mosquitto_pub || echo mosquitto-clients  # MQTT: mosquitto_pub / mosquitto_sub
  [ -x "$CHROMIUM" ] || echo chromium               # management UI in a real browser
  have_cmd redis-server || echo redis-server        # storage-redis and the crash tests
  have_cmd redis-sentinel || echo redis-sentinel    # Redis failover
  have_cmd openssl || echo openssl                  # test certificates for TLS listeners
  # Not mosquitto (the broker): on Debian it starts a service on 1883, Junction's MQTT port;
  # only `npm run bench` compares against it, and packages/bench/src/peers.ts says so.
}

need=($(missing))
[ ${#need[@]} -eq 0 ] && exit 0

cmd="apt-get install -y ${need[*]}"
if [ "$(id -u)" -ne 0 ] || ! have_cmd apt-get; then
  echo "npm test needs Debian packages that are missing: ${need[*]}" >&2
  echo "install them (as root), then run npm test again:" >&2
  echo "  sudo apt-get update && sudo $cmd" >&2
  exit 1
fi

echo "npm test: installing the Debian packages the tests drive: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -qq)
set -x
timeout 300 apt-get "${apt_opts[@]}" update </dev/null || exit 1
timeout 900 apt-get "${apt_opts[@]}" install -y "${need[@]}" </dev/null || exit 1
set +x
still=($(missing))
if [ ${#still[@]} -gt 0 ]; then
  echo "installed, yet still missing: ${still[*]} (check PYTHON=$PYTHON, CHROMIUM=$CHROMIUM)" >&2
  exit 1
fi
