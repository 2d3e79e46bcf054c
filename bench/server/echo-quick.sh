#!/usr/bin/env bash
# quick manual run: bench/server/echo-quick.sh <kind> [loadgen args]
kind=$1; shift
cd "$(dirname "$0")"
coproc SRV { exec node servers.mjs "$kind" 0; }
read -r line <&"${SRV[0]}"; port=${line#ready }
node loadgen.mjs "$@" --port "$port"
kill $SRV_PID
