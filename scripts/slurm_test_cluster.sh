#!/usr/bin/env bash
# A throwaway single-node SLURM cluster for testing the workflow's SLURM profile.
#
#   scripts/slurm_test_cluster.sh start            start it; prints what to export (SLURM_CONF, PATH)
#   scripts/slurm_test_cluster.sh stop             stop every daemon `start` started
#   scripts/slurm_test_cluster.sh run -- CMD...    start, run CMD with SLURM_CONF and PATH exported,
#                                                  always stop, exit with CMD's exit code
#
# Needs the Debian/Ubuntu packages slurm-wlm and munge (`apt-get install -y slurm-wlm munge`;
# .ci/run installs them) and root, as on a CI runner or a container. Nothing outside one folder
# is touched: config, munge key and socket, state, spool, pid and log files, and wrappers of the
# client commands (bin/, see write_config) all live in $SLURM_TEST_CLUSTER_DIR (default:
# ${TMPDIR:-/tmp}/slurm-test-cluster; `run` uses a fresh temporary folder unless the variable is
# set). The node is this host, with its CPUs, 80% of its memory, and one fake GPU (a `gpu`
# generic resource backed by /dev/null) so that `--gpus=1` jobs schedule. One partition, `main`.
# No accounting database: `sacct` does not work, `squeue` does (finished jobs stay visible for
# MinJobAge seconds).
#
# Environment: SLURM_TEST_CLUSTER_DIR (folder), SLURM_TEST_CTLD_PORT / SLURM_TEST_SLURMD_PORT
# (default 6817 / 6818), SLURM_TEST_MIN_JOB_AGE (seconds, default 3600),
# SLURM_TEST_START_TIMEOUT (seconds to wait for the node to be idle, default 60).
set -euo pipefail

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

DIR=${SLURM_TEST_CLUSTER_DIR:-${TMPDIR:-/tmp}/slurm-test-cluster}
CTLD_PORT=${SLURM_TEST_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_TEST_SLURMD_PORT:-6818}
MIN_JOB_AGE=${SLURM_TEST_MIN_JOB_AGE:-3600}
START_TIMEOUT=${SLURM_TEST_START_TIMEOUT:-60}
DAEMONS=(slurmd slurmctld munged)   # stop order; start order is the reverse

say() { echo "slurm_test_cluster: $*" >&2; }

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

pid_of() { [[ -s "$DIR/pids/$1" ]] && cat "$DIR/pids/$1" || true; }

# Processes that this cluster started and that are not recorded daemons (slurmstepd, job steps):
# everything started by our daemons carries SLURM_TEST_CLUSTER_TAG=<folder> in its environment.
tagged_pids() {
    local tag="SLURM_TEST_CLUSTER_TAG=$DIR" p
    for p in /proc/[0-9]*; do
        [[ "${p#/proc/}" == "$$" ]] && continue
        if grep -qszxF "$tag" "$p/environ"; then
            echo "${p#/proc/}"
        fi
    done
}

require() {
    local missing=()
    for cmd in munged mungekey slurmctld slurmd sinfo squeue sbatch scancel scontrol; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    if ((${#missing[@]})); then
        say "missing ${missing[*]}; install them with: apt-get install -y slurm-wlm munge"
        exit 1
    fi
}

write_config() {
    local host cpus mem_kb mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    mem_mb=$((mem_kb * 8 / 10 / 1024))
    mkdir -p "$DIR"/{pids,log,state,spool}
    chmod 711 "$DIR"           # munge's socket must be reachable by job users
    mungekey -c -f -k "$DIR/munge.key" -b 1024
    chmod 600 "$DIR/munge.key"
    cat >"$DIR/slurm.conf" <<EOF
# Written by scripts/slurm_test_cluster.sh: a single-node test cluster, not for production.
ClusterName=testcluster
SlurmctldHost=$host
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=$MIN_JOB_AGE
KillWait=5
GresTypes=gpu
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    # A fake GPU the node advertises: jobs asking for --gpus=1 schedule and get CUDA_VISIBLE_DEVICES=0.
    echo "NodeName=$host Name=gpu Count=1 File=/dev/null" >"$DIR/gres.conf"
    # Client commands that find this cluster's config even where SLURM_CONF was removed from the
    # environment: snakemake-executor-plugin-slurm-jobstep (<= 0.6.1) drops every SLURM_* variable
    # before its `srun` inside a job, so a config outside /etc/slurm is lost there. `run` puts
    # this folder first on PATH (as a site would install slurm.conf in /etc/slurm).
    mkdir -p "$DIR/bin"
    local cmd real search
    search=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$DIR/bin" | paste -sd: -)
    for cmd in srun sbatch salloc squeue scancel scontrol sinfo sacct sacctmgr sshare sstat; do
        real=$(PATH=$search command -v "$cmd" || true)
        [[ -n "$real" ]] || continue
        printf '#!/bin/sh\n: "${SLURM_CONF:=%s}"\nexport SLURM_CONF\nexec %s "$@"\n' \
            "$DIR/slurm.conf" "$real" >"$DIR/bin/$cmd"
        chmod 755 "$DIR/bin/$cmd"
    done
}

# launch NAME CMD...: run a foreground daemon in the background, in its own session, tagged.
launch() {
    local name=$1
    shift
    SLURM_TEST_CLUSTER_TAG="$DIR" SLURM_CONF="$DIR/slurm.conf" \
        setsid "$@" </dev/null >"$DIR/log/$name.out" 2>&1 &
    echo $! >"$DIR/pids/$name"
    sleep 0.5
    if ! alive "$!"; then
        say "$name exited at once:"
        tail -n 20 "$DIR/log/$name.out" "$DIR/log/$name.log" 2>/dev/null >&2 || true
        return 1
    fi
}

wait_until_idle() {
    local state="" i
    for ((i = 0; i < START_TIMEOUT * 2; i++)); do
        state=$(SLURM_CONF="$DIR/slurm.conf" sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
        [[ "$state" == idle ]] && return 0
        for d in "${DAEMONS[@]}"; do
            alive "$(pid_of "$d")" || { say "$d died while starting"; return 1; }
        done
        sleep 0.5
    done
    say "node not idle after ${START_TIMEOUT}s (state: '${state:-none}')"
    return 1
}

start() {
    require
    for d in "${DAEMONS[@]}"; do
        if alive "$(pid_of "$d")"; then
            say "already running in $DIR ($d pid $(pid_of "$d")); stop it first"
            exit 1
        fi
    done
    rm -rf "$DIR"/{pids,log,state,spool,bin}
    write_config
    if ! {
        launch munged munged -F --force --socket="$DIR/munge.socket" --key-file="$DIR/munge.key" \
            --pid-file="$DIR/munged.pid" --seed-file="$DIR/munged.seed" \
            --log-file="$DIR/log/munged.log" &&
            launch slurmctld slurmctld -D -i -f "$DIR/slurm.conf" &&
            launch slurmd slurmd -D -f "$DIR/slurm.conf" &&
            wait_until_idle
    }; then
        say "start failed; last lines of the logs in $DIR/log:"
        tail -n 15 "$DIR"/log/* >&2 2>/dev/null || true
        if grep -qs "Address already in use" "$DIR"/log/*.log; then
            say "port $CTLD_PORT or $SLURMD_PORT is taken (another SLURM running?);" \
                "set SLURM_TEST_CTLD_PORT / SLURM_TEST_SLURMD_PORT"
        fi
        stop
        exit 1
    fi
    say "up: node $(hostname -s), partition main, 1 gpu; logs in $DIR/log"
    echo "export SLURM_CONF=$DIR/slurm.conf PATH=$DIR/bin:\$PATH"
}

# term_and_wait SECONDS PID...: SIGTERM, wait, then SIGKILL what is left.
term_and_wait() {
    local secs=$1 p i left
    shift
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        left=0
        for p in "$@"; do alive "$p" && left=1; done
        ((left)) || return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
    sleep 0.2
}

stop() {
    local conf="$DIR/slurm.conf" pid d remaining
    # Cancel jobs first so slurmd's job steps end cleanly.
    if [[ -f "$conf" ]] && alive "$(pid_of slurmctld)"; then
        SLURM_CONF=$conf timeout 10 scancel --partition=main 2>/dev/null || true
        for _ in $(seq 1 40); do
            [[ -z "$(SLURM_CONF=$conf timeout 5 squeue -h -t active -o '%i' 2>/dev/null)" ]] && break
            sleep 0.25
        done
    fi
    for d in "${DAEMONS[@]}"; do
        pid=$(pid_of "$d")
        if alive "$pid"; then
            term_and_wait 10 "$pid"
        fi
    done
    # Job steps (slurmstepd) and anything else our daemons started.
    mapfile -t remaining < <(tagged_pids)
    if ((${#remaining[@]})); then
        term_and_wait 5 "${remaining[@]}"
    fi
    remaining=()
    for d in "${DAEMONS[@]}"; do
        pid=$(pid_of "$d")
        alive "$pid" && remaining+=("$d:$pid")
    done
    for pid in $(tagged_pids); do remaining+=("pid:$pid"); done
    if ((${#remaining[@]})); then
        say "still running after stop: ${remaining[*]}"
        return 1
    fi
    rm -f "$DIR"/pids/*
    say "stopped; no daemon left"
}

TEMP_DIR=""

# On exit from `run`: stop the cluster (a failed stop turns success into failure), exit with rc.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if ! stop; then
        ((rc)) || rc=1
    fi
    [[ -n "$TEMP_DIR" ]] && rm -rf "$TEMP_DIR"
    exit "$rc"
}

CHILD=""

# INT/TERM while CMD runs: pass it on as TERM, wait for CMD, exit (the EXIT trap stops the cluster).
on_signal() {
    if [[ -n "$CHILD" ]] && kill -TERM "$CHILD" 2>/dev/null; then wait "$CHILD" 2>/dev/null || true; fi
    exit "$1"
}

run() {
    [[ "${1:-}" == "--" ]] && shift
    (($#)) || usage
    if [[ -z "${SLURM_TEST_CLUSTER_DIR:-}" ]]; then
        TEMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/slurm-test-cluster.XXXXXX")
        DIR=$TEMP_DIR
    fi
    trap cleanup EXIT
    trap 'on_signal 130' INT
    trap 'on_signal 143' TERM
    start >/dev/null
    # In the background so that a signal to this script reaches the trap at once; stdin kept.
    SLURM_CONF="$DIR/slurm.conf" PATH="$DIR/bin:$PATH" "$@" <&0 &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    exit "$rc"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    run) shift; run "$@" ;;
    *) usage ;;
esac
