#!/bin/sh
# Install everything dockyard needs on a fresh Debian 12 machine. Idempotent:
# it skips apt-get when the packages are already there.
set -eu
cd "$(dirname "$0")/.."
PKGS="crun runc conmon tini busybox-static skopeo umoci docker-registry zstd iptables iproute2 nftables util-linux aardvark-dns containernetworking-plugins socat libseccomp2 tmux wine wine64"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -e "Running pip as the 'root' user" -e "is ignored: it is neither" || true
# crun refuses a hybrid cgroup layout while hugetlb sits on cgroup v2: bind it to v1.
if [ -d /sys/fs/cgroup/memory ] && ! [ -e /sys/fs/cgroup/hugetlb/tasks ]; then
    mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null || true
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null || true
fi
# dockyard-runtime: a launcher that starts Python with -I -S (the console script pays ~70 ms for site).
"$PYTHON" -m dockyard.runtime.native.launcher /usr/local/bin/dockyard-runtime >/dev/null
# docker-compose 1.29 for the build e2e tests, in its own venv (scripts/compose-venv.sh).
./scripts/compose-venv.sh 2>&1 | grep -v -e "Running pip as the 'root' user" -e "is ignored: it is neither" || true
