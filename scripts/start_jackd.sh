#!/usr/bin/env bash
# Start a JACK server with the dummy driver (real MIDI ports on a machine without a sound card).
# Realtime scheduling when the machine allows it (a starved non-realtime JACK drops MIDI events
# under CPU load), else --no-realtime. Prints the server's pid; waits until clients can connect.
set -u
try() {
  "$@" >/tmp/livecrepre-jackd.log 2>&1 &
  local pid=$!
  for _ in $(seq 30); do
    if jack_lsp >/dev/null 2>&1; then echo "$pid"; return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  kill "$pid" 2>/dev/null
  return 1
}
if jack_lsp >/dev/null 2>&1; then echo "already running" >&2; exit 0; fi
try jackd -R -P 70 -d dummy -r 48000 -p 256 || try jackd --no-realtime -d dummy -r 48000 -p 256
