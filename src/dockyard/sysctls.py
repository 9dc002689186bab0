"""Which sysctls a container may set: those of a kernel namespace it does not share with the host.

A sysctl outside the container's own namespaces is the host's: writing
``vm.swappiness`` or ``fs.file-max`` "in" a container changes the whole
machine.  runc refuses those (its config validator); this leaf module holds
the same rules for both sides: the daemon refuses them at create (a 400,
nothing made), and the native runtime refuses them in any config.json it is
given.  Kept free of imports, like ``capabilities``, so the runtime can use it.
"""

from __future__ import annotations

# The IPC namespace's sysctls (runc's list), besides everything under fs.mqueue.
IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced",
})


def sysctl_error(key: str, private: set[str]) -> str | None:
    """Why ``key`` may not be set with the private namespaces ``private`` (None: it may).

    ``private`` holds OCI namespace types the container does not share with
    the host ("ipc", "network", "uts"; joining another container's counts as
    private, as for runc).
    """
    if not key or "/" in key or ".." in key or key.startswith(".") or key.endswith("."):
        return f"invalid sysctl {key!r}"
    if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return None if "ipc" in private else f"sysctl {key!r} is not allowed in the host's IPC namespace"
    if key.startswith("net."):
        return None if "network" in private else f"sysctl {key!r} is not allowed in the host's network namespace"
    if key in ("kernel.domainname", "kernel.hostname"):
        if "uts" not in private:
            return f"sysctl {key!r} is not allowed in the host's UTS namespace"
        if key == "kernel.hostname":  # runc: it would fight the spec's own hostname field
            return "sysctl 'kernel.hostname' is not allowed as it conflicts with the hostname (use --hostname)"
        return None
    return (f"sysctl {key!r} is not in a separate kernel namespace: setting it in a container would set it "
            "for the whole host")
