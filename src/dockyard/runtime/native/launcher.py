"""Write the fast launcher for ``dockyard-runtime``.

The pip console script starts Python with site-packages (about 70 ms here,
paid on every create/start/delete).  The launcher runs ``python -I -S``
(isolated, no ``site``) and puts exactly two folders on ``sys.path``: the
package's ``src`` folder and site-packages (for pyseccomp), after the stdlib.

Two more start-up savings (see docs/decisions.md, "runtime interpreter"):

- the interpreter is the distribution's ``/usr/bin/python3.X`` when it has
  the same minor version as the installing one: Debian's is statically
  linked and built with PGO/LTO and starts ~4 ms faster than a pyenv build
  with a shared libpython; otherwise the installing interpreter is used;
- after ``main()`` the launcher flushes stdio and leaves with ``os._exit``:
  the interpreter's teardown (module and object finalisation) cost ~5 ms per
  call and the runtime holds nothing that needs it (every file it writes is
  closed, no atexit handlers, no threads left to join).

    python -m dockyard.runtime.native.launcher [PATH]   (default /usr/local/bin/dockyard-runtime)
"""

from __future__ import annotations

import os
import sys
import sysconfig

DEFAULT_PATH = "/usr/local/bin/dockyard-runtime"


def launcher_text(python: str | None = None, src: str | None = None, site: str | None = None) -> str:
    python = python or os.path.realpath(sys.executable)
    src = src or os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    site = site or sysconfig.get_paths()["purelib"]
    # the kernel passes everything after the interpreter as one argument: "-IS" is one flag group
    return (f"#!{python} -IS\n"
            "# dockyard-runtime launcher (written by python -m dockyard.runtime.native.launcher)\n"
            "import sys\n"
            f"sys.path.insert(0, {src!r})\n"
            f"sys.path.append({site!r})\n"
            "from dockyard.runtime.native.cli import main\n"
            "rc = main()\n"
            "# skip the interpreter's teardown (~5 ms): flush stdio, then leave at once\n"
            "try:\n"
            "    sys.stdout.flush()\n"
            "    sys.stderr.flush()\n"
            "except BaseException:\n"
            "    sys.exit(rc)\n"
            "import os\n"
            "os._exit(rc if isinstance(rc, int) else 1)\n")


def runtime_interpreter(installing: str | None = None, candidate: str | None = None) -> str:
    """The interpreter the runtime should run on: ``/usr/bin/python3.X`` if usable, else ``installing``.

    "Usable" means same major.minor as the installing interpreter (the
    package's .pyc files and site-packages are per minor version) and able to
    import what the runtime needs in isolated mode (a quick check at install
    time, never on the hot path).
    """
    installing = os.path.realpath(installing or sys.executable)
    candidate = candidate or f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
    if os.path.realpath(candidate) == installing or not os.access(candidate, os.X_OK):
        return installing
    import subprocess

    want = f"{sys.version_info[0]}.{sys.version_info[1]}"
    probe = ("import sys, _json, _ctypes, ctypes, resource, fcntl, _socket, _signal\n"
             "print('%d.%d' % sys.version_info[:2])")
    try:
        out = subprocess.run([candidate, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return installing
    return candidate if out.returncode == 0 and out.stdout.strip() == want else installing


def install(path: str = DEFAULT_PATH) -> str:
    """Write the launcher atomically (a running copy is never half-written); returns its path.

    The launcher runs a read-only copy of the interpreter (see ``selfprotect``).
    """
    from dockyard.runtime.native import selfprotect

    python = selfprotect.install_interpreter(runtime_interpreter(sys.executable))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(python=python))
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)
    return path


if __name__ == "__main__":
    print(install(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH))
