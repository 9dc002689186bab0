#!/bin/sh
# Set up dockyard on a fresh Debian 12 machine and run the main job:
# install what is needed, start the engine, import a busybox image, run a container.
set -eu
cd "$(dirname "$0")/.."
./scripts/install.sh
BIN=$(python3 -c 'import os,sys; print(os.path.dirname(sys.executable))')
SOCK=${DOCKYARD_SOCK:-/run/dockyard.sock}
if ! DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1; then
    mkdir -p /var/log
    nohup "$BIN/dockyardd" -H "unix://$SOCK" >>/var/log/dockyardd.log 2>&1 &
    for _ in $(seq 1 100); do
        DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1 && break
        sleep 0.1
    done
fi
export DOCKER_HOST=unix://$SOCK
if ! docker image inspect busybox:latest >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    ./scripts/busybox-rootfs.sh --tar "$tmp/busybox.tar"
    docker import "$tmp/busybox.tar" busybox:latest
    rm -rf "$tmp"
fi
docker run --rm busybox echo "hello from dockyard"
echo "dockyard is running: export DOCKER_HOST=unix://$SOCK"
