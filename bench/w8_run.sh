#!/usr/bin/env bash
# bench/w8_run.sh: one W8 tcp_echo run. Starts an echo server binary with --port=0 (plus any extra
# arguments), reads the `listening port=<n>` line it prints on stdout, runs w8_loadgen against that
# port, stops the server (SIGTERM, then SIGKILL after 5 s) and prints the loadgen's line:
#
#   w8 round_trips_per_s=<float> round_trips=<n> seconds=<float> conns=<n> size=<n>
#
# Usage:
#   bench/w8_run.sh SERVER [SERVER_ARGS...] [-- LOADGEN_ARGS...]
#   bench/w8_run.sh build/bench/w8_uv_echo
#   bench/w8_run.sh build/bench/w8_echo --workers=2 -- --conns=100 --size=64 --seconds=5
#
# LOADGEN_ARGS go to w8_loadgen after --port (defaults: --conns=100 --size=64 --seconds=5
# --warmup=0.5). W8_LOADGEN names the loadgen binary (default: w8_loadgen next to SERVER).
# Exit status: the loadgen's when it fails (1 = wrong echo or connection error; its stderr is shown),
# 1 when the server does not print its port within 10 s, dies during the run, or exits on SIGTERM
# with anything but 0 or 143 (the loadgen line is still printed then), else 0.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

server="$1"
shift
server_args=()
loadgen_args=()
while [[ $# -gt 0 && "$1" != -- ]]; do
  server_args+=("$1")
  shift
done
if [[ $# -gt 0 ]]; then
  shift
  loadgen_args=("$@")
fi

loadgen="${W8_LOADGEN:-$(dirname "$server")/w8_loadgen}"
[[ -x "$server" ]] || { echo "w8_run: server '$server' is not an executable" >&2; exit 2; }
[[ -x "$loadgen" ]] || { echo "w8_run: loadgen '$loadgen' is not an executable (set W8_LOADGEN)" >&2; exit 2; }

tmp="$(mktemp -d /tmp/w8_run.XXXXXX)"
server_pid=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

: >"$tmp/server.out" # exists before the server starts: the port poll below reads it at once
"$server" --port=0 "${server_args[@]}" >>"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!

server_tail() {
  echo "--- server stdout:" >&2
  tail -5 "$tmp/server.out" >&2
  echo "--- server stderr:" >&2
  tail -20 "$tmp/server.err" >&2
}

# listening_port sets `port` from the server's `listening port=<n>` line, if it has printed it.
listening_port() {
  local line
  while IFS= read -r line; do
    if [[ "$line" =~ ^listening\ port=([0-9]+)$ ]]; then
      port="${BASH_REMATCH[1]}"
      return 0
    fi
  done <"$tmp/server.out"
  return 1
}

port=""
deadline=$((EPOCHSECONDS + 10))
while ((EPOCHSECONDS < deadline)); do
  listening_port && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    rc=0
    wait "$server_pid" || rc=$?
    server_pid=""
    echo "w8_run: server exited (status $rc) before printing 'listening port=<n>'" >&2
    server_tail
    exit 1
  fi
  sleep 0.01
done
if [[ -z "$port" ]]; then
  echo "w8_run: server printed no 'listening port=<n>' line within 10 s" >&2
  server_tail
  exit 1
fi

lg_rc=0
"$loadgen" --port="$port" "${loadgen_args[@]}" >"$tmp/loadgen.out" 2>"$tmp/loadgen.err" || lg_rc=$?

status=0
if ! kill -0 "$server_pid" 2>/dev/null; then
  rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  echo "w8_run: server died during the run (status $rc)" >&2
  server_tail
  status=1
else
  kill -TERM "$server_pid" 2>/dev/null || true
  deadline=$((EPOCHSECONDS + 5))
  while ((EPOCHSECONDS < deadline)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.01
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "w8_run: server ignored SIGTERM for 5 s; killing it" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  if [[ $rc -ne 0 && $rc -ne 143 ]]; then
    echo "w8_run: server exited with status $rc after SIGTERM" >&2
    server_tail
    status=1
  fi
fi

cat "$tmp/loadgen.out"
cat "$tmp/loadgen.err" >&2
if [[ $lg_rc -ne 0 ]]; then
  echo "w8_run: w8_loadgen failed (status $lg_rc)" >&2
  exit "$lg_rc"
fi
exit "$status"
