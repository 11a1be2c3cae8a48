#!/usr/bin/env bash
# Installs the Debian packages orch's tests, `make run` and `make bench` need,
# when they are missing. Packages that ship a service are installed with a
# policy-rc.d that forbids starting it: orch starts its own instances with
# their own data directories and never uses a system one.
set -euo pipefail

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in ${ORCH_PACKAGES:-iproute2 iptables nftables containerd runc busybox-static docker-registry apache2-utils perl libmath-bigint-perl}; do
	have "$pkg" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
	exit 1
fi
echo "installing: ${need[*]}"
policy=/usr/sbin/policy-rc.d
restore=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod +x "$policy"
	restore=1
fi
trap '[ -n "$restore" ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${need[@]}" >/tmp/orch-apt.log 2>&1; then
	apt-get update >/dev/null 2>&1
	apt-get install -y --no-install-recommends "${need[@]}"
fi
