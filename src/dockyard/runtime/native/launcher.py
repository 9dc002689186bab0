"""Write the fast launcher for ``dockyard-runtime``.

The pip console script starts Python with site-packages (about 70 ms here,
paid on every create/start/delete).  The launcher runs ``python -I -S``
(isolated, no ``site``) and puts exactly two folders on ``sys.path``: the
package's ``src`` folder and site-packages (for pyseccomp), after the stdlib.

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
            "sys.exit(main())\n")


def install(path: str = DEFAULT_PATH) -> str:
    """Write the launcher atomically (a running copy is never half-written); returns its path.

    The launcher runs a read-only copy of the interpreter (see ``selfprotect``).
    """
    from dockyard.runtime.native import selfprotect

    python = selfprotect.install_interpreter(sys.executable)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(python=python))
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)
    return path


if __name__ == "__main__":
    print(install(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH))
