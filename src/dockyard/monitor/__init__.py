"""The engine's side of a running container: the OCI runtime CLI client (``oci``),
conmon (``conmon``), exec sessions, attach sockets, logs and exit watching.

It reaches a runtime program only by running it (``create``, ``start``,
``kill``, ``delete``, ``exec``), so crun, runc and dockyard-runtime are
interchangeable below it.
"""
