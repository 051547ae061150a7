#!/usr/bin/env bash
# Stop what up.sh started and remove stale pid files; safe to run when nothing runs.
set -u
STATE=${SLURM_LOCAL:-/tmp/slurm-local}
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do pkill -x "$daemon" 2>/dev/null; done
daemons="slurmd slurmctld slurmdbd mariadbd munged"
for _ in $(seq 40); do
  alive=0
  for daemon in $daemons; do pgrep -x "$daemon" >/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 0.25
done
for daemon in $daemons; do pkill -9 -x "$daemon" 2>/dev/null; done
rm -f "$STATE"/run/*.pid /run/munge/munged.pid /run/mysqld/*.pid
[ "${1:-}" = "--quiet" ] || echo "slurm-local: down"
exit 0
