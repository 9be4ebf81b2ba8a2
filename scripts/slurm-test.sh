#!/usr/bin/env bash
# End-to-end test of sharded surfaces on a real batch engine: a one-node Slurm cluster on this
# machine (installed from Debian when missing), the README's array script (scripts/slurm-surface.sbatch)
# on a 15×15 real-MNIST surface, one task requeued mid-way (it must resume its part file), merge
# identical value for value to a single-process run, a task given another grid failing with
# landscope's own error in its Slurm log, and merge reporting missing points (exit 3); accounting
# (slurmdbd on a private MariaDB) so sacct shows the array. Everything it starts (munged, mariadbd,
# slurmdbd, slurmctld, slurmd) is stopped when it exits, also on failure.
# Needs root. Run: npm run test:slurm
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '[slurm-test] %s\n' "$*"; }
fail() { printf '[slurm-test] FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (it starts munged, mariadbd, slurmdbd, slurmctld and slurmd)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  log "installing slurm-wlm, slurmdbd, munge and mariadb-server from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi
[ -f dist/src/cli/bin.js ] || npx tsc -p tsconfig.json

WORK=$(mktemp -d /tmp/landscope-slurm.XXXXXX)
chmod 755 "$WORK"
HOST=$(hostname -s)
PIDS=()
cleanup() {
  local code=$?
  scancel --quiet --user=root 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
  [ "$code" = 0 ] && log "PASSED" || log "exit $code (logs kept: set KEEP=1 to keep $WORK)"
}
trap cleanup EXIT

log "one-node cluster in $WORK (host $HOST, 2 CPUs, cgroups off)"
mkdir -p "$WORK"/{state,spool,run,munge,logs}
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=landscope
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldPort=16817
SlurmdPort=16818
SlurmctldLogFile=$WORK/logs/slurmctld.log
SlurmdLogFile=$WORK/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=16819
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
MinJobAge=600
KillWait=2
MessageTimeout=20
NodeName=$HOST CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

# munge: its own key and socket, so a munged already running is left alone.
dd if=/dev/urandom bs=1 count=1024 of="$WORK/munge/munge.key" 2>/dev/null
chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET=$WORK/munge/munge.socket
munged --force --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/seed" --log-file="$WORK/logs/munged.log" --foreground 2>"$WORK/logs/munged.out" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
[ -S "$MUNGE_SOCKET" ] || fail "munged did not start (see $WORK/logs/munged.log)"
# Slurm's munge plugin reads the socket from AuthInfo.
# (cred_expire also sets how long a requeued task waits before it may start again: 120 s by default.)
# Clients reach slurmdbd through the socket named by AccountingStoragePass.
sed -i "s#^AuthType=auth/munge#AuthType=auth/munge\nAuthInfo=socket=$MUNGE_SOCKET,cred_expire=10\nAccountingStoragePass=$MUNGE_SOCKET#" "$SLURM_CONF"

# Accounting, so sacct can show the array: a private MariaDB (TCP on loopback) and slurmdbd.
mkdir -p "$WORK/db"
mariadb-install-db --user=root --datadir="$WORK/db/data" --auth-root-authentication-method=socket >"$WORK/logs/mariadb-install.log" 2>&1
mariadbd --user=root --datadir="$WORK/db/data" --socket="$WORK/db/mysql.sock" --bind-address=127.0.0.1 --port=16830 \
  --pid-file="$WORK/db/mariadb.pid" --log-error="$WORK/logs/mariadb.log" --skip-log-bin &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$WORK/db/mysql.sock" ] && break; sleep 0.1; done
[ -S "$WORK/db/mysql.sock" ] || fail "MariaDB did not start (see $WORK/logs/mariadb.log)"
mariadb --socket="$WORK/db/mysql.sock" -uroot -e "CREATE DATABASE slurm_acct_db; CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'landscope'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
cat >"$WORK/slurmdbd.conf" <<DBD
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=16819
SlurmUser=root
PidFile=$WORK/run/slurmdbd.pid
LogFile=$WORK/logs/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=16830
StorageUser=slurm
StoragePass=landscope
StorageLoc=slurm_acct_db
DBD
chmod 600 "$WORK/slurmdbd.conf"
slurmdbd -D >"$WORK/logs/slurmdbd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -f "$WORK/run/slurmdbd.pid" ] && sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
sacctmgr -i add cluster landscope >/dev/null 2>&1 || true
sacctmgr -n list cluster format=cluster | grep -q landscope || fail "slurmdbd is not answering (see $WORK/logs/slurmdbd.log)"

slurmctld -D -f "$SLURM_CONF" >"$WORK/logs/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" >"$WORK/logs/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || { tail -n 20 "$WORK"/logs/slurm*.log >&2 || true; fail "the node is '$state', not idle"; }
log "sinfo: $(sinfo -h -o '%P %a %D %T %N')"

log "a real-MNIST checkpoint, data and two directions"
node dist/examples/mnist-surface.js --quick --out="$WORK/mnist" >"$WORK/logs/checkpoint.log"
JOB=$WORK/job
mkdir -p "$JOB/logs" "$JOB/ckpt" "$JOB/data" "$JOB/dirs"
cp -r "$WORK/mnist/model/." "$JOB/ckpt/"
cp "$WORK/mnist/x.npy" "$WORK/mnist/y.npy" "$JOB/data/"
cp -r "$WORK/mnist/d1" "$WORK/mnist/d2" "$JOB/dirs/"
cd "$JOB"
export LANDSCOPE="node $ROOT/dist/src/cli/bin.js" XRANGE=-1:1:15 YRANGE=-1:1:15 SHARDS=4
SINGLE=(surface --model ckpt/model.json --x data/x.npy --y data/y.npy --dir-x dirs/d1/model.json --dir-y dirs/d2/model.json --xrange=$XRANGE --yrange=$YRANGE --backend cpu)
$LANDSCOPE "${SINGLE[@]}" --out single.json >/dev/null 2>&1 || fail "the single-process surface failed"

# The array: the cpu backend (slow enough to catch a task mid-way), 2 tasks at a time on 2 CPUs.
jobid=$(sbatch --parsable --array=0-3 "$ROOT/scripts/slurm-surface.sbatch" --backend cpu)
log "submitted array job $jobid (tasks 0-3)"
# Task 0 is requeued once its part file holds some points but not all.
part=parts/part-0-of-4.jsonl
for _ in $(seq 600); do
  lines=$( [ -f "$part" ] && wc -l <"$part" || echo 0)
  [ "$lines" -ge 8 ] && break
  sleep 0.05
done
[ "$lines" -ge 8 ] || fail "task 0 never started writing $part"
scontrol requeue "${jobid}_0"
log "requeued task 0 with $((lines - 1)) of 57 points in $part"
for _ in $(seq 1200); do
  [ -z "$(squeue -h -j "$jobid" 2>/dev/null)" ] && break
  sleep 0.25
done
[ -z "$(squeue -h -j "$jobid")" ] || fail "the array did not finish: $(squeue -j "$jobid")"
# Accounting reaches slurmdbd a moment after the jobs end.
for _ in $(seq 100); do
  [ "$(sacct -n -X -j "$jobid" -o State | grep -c COMPLETED)" -ge 4 ] && break
  sleep 0.2
done
log "sacct for the array (task 0 ran twice: requeued, then completed):"
sacct -j "$jobid" -D -X -o JobID,JobName%18,State,Start,End,Elapsed,ExitCode | sed 's/^/  /'
completed=$(sacct -n -X -j "$jobid" -o State | grep -c COMPLETED)
[ "$completed" = 4 ] || fail "$completed of 4 tasks COMPLETED"
sacct -n -X -D -j "${jobid}_0" -o State | grep -q REQUEUED || fail "sacct does not show task 0's requeue"
resume_log=$(ls logs/surface-"${jobid}"_0.log)
grep -q "resuming: [0-9]* of 57 points already done" "$resume_log" || { cat "$resume_log" >&2; fail "task 0 did not resume its part file"; }
log "task 0 after its requeue: $(grep -o 'surface: resuming: .*' "$resume_log" | head -1)"

$LANDSCOPE merge parts --out merged.json || fail "merge failed"
node -e '
  const fs = require("fs");
  const [a, b] = ["single.json", "merged.json"].map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
  const same = JSON.stringify(a.loss) === JSON.stringify(b.loss) && JSON.stringify(a.accuracy) === JSON.stringify(b.accuracy) && JSON.stringify(a.x) === JSON.stringify(b.x);
  if (!same) { console.error("merged surface differs from the single-process run"); process.exit(1); }
  console.log(`[slurm-test] merged 4 parts: ${b.loss.length}x${b.loss[0].length} points, identical value for value to the single-process run (min loss ${Math.min(...b.loss.flat()).toFixed(4)})`);
' || fail "the merged surface differs from the single-process run"

# A task given another job (another grid) against the same part files: landscope's error in its log.
bad=$(XRANGE=-1:1:13 sbatch --parsable --array=3 "$ROOT/scripts/slurm-surface.sbatch" --backend cpu)
for _ in $(seq 600); do [ -z "$(squeue -h -j "$bad" 2>/dev/null)" ] && break; sleep 0.25; done
grep -q "holds results of another job (it differs in: grid" logs/surface-"${bad}"_3.log || { cat logs/surface-"${bad}"_3.log >&2; fail "the mismatched task did not fail with landscope's error"; }
for _ in $(seq 100); do sacct -n -X -j "$bad" -o State | grep -q FAILED && break; sleep 0.2; done
sacct -n -X -j "$bad" -o State | grep -q FAILED || fail "sacct does not show the mismatched task FAILED"
sacct -j "$bad" -X -o JobID,State,ExitCode | sed 's/^/  /'
log "mismatched task ${bad}_3 FAILED: $(grep -o 'error: .*' logs/surface-"${bad}"_3.log | head -1 | cut -c1-140)…"

# A missing shard: merge says which points are missing, exit 3.
mkdir -p missing && cp parts/part-0-of-4.jsonl parts/part-1-of-4.jsonl parts/part-2-of-4.jsonl missing/
set +e
out=$($LANDSCOPE merge missing --out never.json 2>&1)
code=$?
set -e
[ "$code" = 3 ] || fail "merge of 3 of 4 parts exited $code, not 3"
echo "$out" | grep -q "56 of 225 points are missing" || fail "merge did not name the missing points: $out"
log "merge without part 3: exit 3, $(echo "$out" | grep -o '56 of 225 points are missing')"
