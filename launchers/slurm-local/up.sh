#!/usr/bin/env bash
# A real single-node SLURM on localhost, with accounting (sacct), for tests and laptops.
#   launchers/slurm-local/up.sh      install (Debian: slurm-wlm, slurmdbd, munge, mariadb) and start
#   launchers/slurm-local/down.sh    stop everything it started
# Runs as root; no systemd or cgroups needed. State lives in $SLURM_LOCAL (default /tmp/slurm-local).
set -euo pipefail
STATE=${SLURM_LOCAL:-/tmp/slurm-local}
PARTITION=${ECOSYS_SLURM_PARTITION:-debug}
start=$(date +%s)

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  echo "installing slurm-wlm, slurmdbd, munge, mariadb-server (Debian packages)…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi

mkdir -p "$STATE"/{log,ctld,d,run} /etc/slurm /run/munge /var/log/munge /var/lib/munge
chown slurm:slurm "$STATE"/ctld "$STATE"/log
"$(dirname "$0")/down.sh" --quiet || true   # stale daemons and pid files of an earlier run

# munge: one key, the daemon as its own user
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged --force

# MariaDB for slurmdbd (accounting: without it submitit sees UNKNOWN job states)
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
  --pid-file=/run/mysqld/mysqld.pid --skip-networking=0 --bind-address=127.0.0.1 \
  >"$STATE/log/mariadb.log" 2>&1 &
for _ in $(seq 60); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
  CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
CONF
chown slurm:slurm /etc/slurm/slurmdbd.conf && chmod 600 /etc/slurm/slurmdbd.conf

cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ecosys
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=30
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
KillWait=2
MinJobAge=2
InactiveLimit=0
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

/usr/sbin/slurmdbd
for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -i -Q add cluster ecosys >/dev/null 2>&1 || true
/usr/sbin/slurmctld
/usr/sbin/slurmd -N localhost
for _ in $(seq 120); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  sleep 0.5
done
sinfo -h -o %T | grep -qE '^idle' || { echo "slurm-local: the node never became idle; logs in $STATE/log" >&2; exit 1; }
echo "slurm-local: up in $(( $(date +%s) - start )) s (partition $PARTITION, $cpus CPUs, logs in $STATE/log)"
