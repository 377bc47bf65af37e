#!/usr/bin/env bash
# A GPU job longer than one device call (10 minutes): the machine stays while calls keep coming
# (30 s apart at most) and a process in a session of its own outlives the call that started it.
#
#   bash bench/gpu_background.sh start quality --tasks qmd   # install, start bench/quality.py, wait
#   bash bench/gpu_background.sh chain "quality --tasks qmd" "throughput --levels 1 64"   # one after the other
#   bash bench/gpu_background.sh wait                        # wait again; results to $OUT when done
#
# Each call waits up to BG_WAIT_S seconds (default 560), prints the log's end, and
# copies what the job has written so far (results, every log and eval row of /tmp/bg) into $OUT.
# Give bench/quality.py --storage /tmp/bg/storage so that its eval rows come back too.
# A chain runs its benchmarks in order, each to the end whatever the one before it returned.
set -uo pipefail
job=/tmp/bg
wait_s=${BG_WAIT_S:-560}
case "${1:-}" in
  start|chain)
    mode=$1; shift
    if [ "$mode" = start ]; then steps=("$*"); else steps=("$@"); fi
    script=""
    for step in "${steps[@]}"; do
      name=${step%% *}; args=${step#"$name"}
      script+="echo \"== $name \$(date -u +%T)\"; python3 -m bench.$name --out $job/results $args; rc=\$?; echo \"== $name exit \$rc\"; "
    done
    source bench/gpu_env.sh
    mkdir -p "$job/results"; rm -f "$job/rc"
    nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader
    setsid bash -c "$script echo \$rc > $job/rc" > "$job/log" 2>&1 < /dev/null &
    ;;
  wait)
    # a machine left idle over 30 s is replaced by a bare one: say so at once instead of waiting on nothing
    if [ ! -f "$job/log" ]; then
      echo "no job on this machine: it was started afresh (more than 30 s passed since the last call); the job is lost"
      exit 3
    fi
    ;;
  *) echo "usage: $0 start NAME [ARGS...] | chain 'NAME ARGS' ['NAME ARGS' ...] | wait"; exit 2 ;;
esac
began=$(date +%s)
while [ ! -f "$job/rc" ] && [ $(( $(date +%s) - began )) -lt "$wait_s" ]; do sleep 5; done
tail -40 "$job/log"
# what the job has written so far comes back on every call, so a session that runs out of device
# time mid-job keeps the cells already done (logs and eval rows, not weights or optimizer state)
cp "$job"/results/*.json "$job"/results/*.md "$OUT"/ 2>/dev/null
tar -czf "$OUT/logs.tgz" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' --exclude='*.pth' \
    -C "$job" . 2>/dev/null
if [ -f "$job/rc" ]; then
  echo "job ended: rc $(cat "$job/rc")"
else
  echo "job still running after ${wait_s}s: call '$0 wait' again within 30 s"
fi
