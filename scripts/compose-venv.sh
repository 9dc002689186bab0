#!/bin/sh
# docker-compose 1.29 (the Python one, which builds through the classic /build API) in a
# venv of its own: it pins PyYAML<6, jsonschema<4 and websocket-client<1, which must not
# replace the versions the rest of the machine uses. PyYAML 5.4.1 has no wheel for
# Python 3.11, and its source build needs Cython < 3; compose calls docker-py 6 APIs
# (docker 7 dropped ssl_version), which needs requests < 2.32.
# Usage: compose-venv.sh [DIR]   (default /opt/dockyard/compose-venv)
set -eu
DIR=${1:-/opt/dockyard/compose-venv}
PYTHON=${PYTHON:-python3}
[ -x "$DIR/bin/docker-compose" ] && "$DIR/bin/python" -c "import docker; assert docker.__version__.startswith('6.')" 2>/dev/null && exit 0
"$PYTHON" -m venv "$DIR"
"$DIR/bin/pip" install -q --disable-pip-version-check "cython<3" wheel setuptools
"$DIR/bin/pip" install -q --disable-pip-version-check --no-build-isolation "PyYAML==5.4.1"
"$DIR/bin/pip" install -q --disable-pip-version-check "docker-compose==1.29.2" "docker==6.1.3" "requests<2.32" "urllib3<2"
