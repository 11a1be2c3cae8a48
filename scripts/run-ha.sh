#!/usr/bin/env bash
# Starts a three-master orch cluster on loopback in .run/ and keeps it in the
# foreground; Ctrl-C stops it (each master hands off leadership as it stops).
# State survives in .run/: run it again to restart the same cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
run=.run
mkdir -p "$run"
servers="https://127.0.0.1:6443,https://127.0.0.1:6444,https://127.0.0.1:6445"
if [ ! -f "$run/pki/ca.crt" ]; then
	bin/orchd pki init --dir "$run/pki" --hosts 127.0.0.1,localhost --servers "$servers"
fi
# A directory made before each master had its own certificate.
for i in 1 2 3; do
	[ -f "$run/pki/master-m$i.crt" ] || bin/orchd pki issue master "m$i" --dir "$run/pki" --hosts 127.0.0.1,localhost
done
# A directory made before Secrets were encrypted at rest.
[ -f "$run/pki/encryption-config.yaml" ] || bin/orchd pki encryption-key init --dir "$run/pki"
initial="m1=127.0.0.1:7001,m2=127.0.0.1:7002,m3=127.0.0.1:7003"
pids=()
stop() {
	# stdout may be a pipe whose reader Ctrl-C ended too (make run | tee log):
	# the message must not kill the script (SIGPIPE) before it stops orchd.
	trap '' PIPE
	echo "stopping the masters" || true
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait
}
trap stop INT TERM
for i in 1 2 3; do
	bin/orchd master --name "m$i" --data-dir "$run/m$i" --pki-dir "$run/pki" \
		--api-addr "127.0.0.1:644$((i + 2))" --raft-addr "127.0.0.1:700$i" \
		--initial-cluster "$initial" >"$run/m$i.log" 2>&1 &
	pids+=($!)
done
conf="$run/pki/admin.conf"
for _ in $(seq 1 100); do
	if bin/orchctl --config "$conf" get namespaces >/dev/null 2>&1; then break; fi
	sleep 0.1
done
cat <<MSG
orch is running: three masters on https://127.0.0.1:6443-6445 (logs in $run/m*.log)

Try:
  export ORCHCONFIG=$PWD/$conf
  bin/orchctl cluster members
  bin/orchctl create -f examples/pod.yaml
  bin/orchctl get pods -o wide
  bin/orchctl get pods -w            # in another terminal, then change something
  kill -9 \$(pgrep -f 'orchd master --name m1')   # lose a master; writes go on

Ctrl-C stops the cluster.
MSG
wait
