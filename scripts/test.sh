#!/bin/sh
# Run dockyard's whole test suite (installs what is missing first).
set -eu
cd "$(dirname "$0")/.."
./scripts/install.sh
exec python3 -m pytest -q -p no:cacheprovider "$@" tests
