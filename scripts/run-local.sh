#!/usr/bin/env bash
# Starts a one-machine orch cluster (`orchd dev`: one master and one node with
# its own containerd) in .run/dev, applies examples/ and keeps it in the
# foreground; Ctrl-C stops the pods, the containerd and the master. The state
# survives in .run/dev: run it again to restart the same cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "make run needs root: pods get network namespaces, cgroups and a bridge (try: sudo make run)" >&2
	exit 1
fi
dir=$PWD/.run/dev
mkdir -p "$dir"
log=$dir/orchd.log
bin/orchd dev --data-dir "$dir" >"$log" 2>&1 &
pid=$!
stop() {
	# stdout may be a pipe whose reader Ctrl-C ended too (make run | tee log):
	# the message must not kill the script (SIGPIPE) before it stops orchd.
	trap '' PIPE
	echo "stopping orch: the pods, the containerd and the master" || true
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || true
	exit 0
}
trap stop INT TERM
export ORCHCONFIG=$dir/admin.conf
ready=""
for _ in $(seq 1 300); do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "orchd dev exited; its log ($log):" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	if [ -f "$ORCHCONFIG" ] && bin/orchctl get nodes 2>/dev/null | grep -q " Ready"; then
		ready=1
		break
	fi
	sleep 0.2
done
if [ -z "$ready" ]; then
	echo "the node did not become Ready within a minute; see $log" >&2
	stop
fi
bin/orchctl apply -f examples/
cat <<MSG

orch is running on this machine: one master (https://127.0.0.1:6443) and one
node (pods on the bridge orch0, 10.244.0.0/24). Log: $log

Try:
  export ORCHCONFIG=$ORCHCONFIG
  bin/orchctl get nodes
  bin/orchctl get pods -o wide                 # the web pods, each with its own IP
  wget -q -O - http://POD-IP:8080/             # a web pod answers with its name
  bin/orchctl logs -f counter                  # a container's output as it is written
  bin/orchctl scale rc web --replicas 5
  bin/orchctl delete pod -l app=web            # the replication controller makes new ones
  bin/orchctl get endpoints web

Ctrl-C stops the pods, the node's containerd and the master.
MSG
wait "$pid"
