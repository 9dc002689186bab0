"""Container config → OCI bundle: the engine's side of the runtime contract.

Pure functions of the container's and the image's configs: ``bundle`` builds
config.json (with ``resources``, ``mounts``, ``users``, the seccomp profiles),
tested with dicts.  Nothing here runs a program or touches the kernel.
"""
