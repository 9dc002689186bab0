"""The OCI runtime programs, and only them: ``native`` (dockyard-runtime, the
Linux kernel driven directly) and ``windows`` (job objects).

They import nothing of the engine (no api, daemon, image, state, spec or
monitor module), only the leaf modules both sides share (errors,
capabilities, securejoin, platforms).  The engine runs them as programs with
runc's command line, exactly as it runs crun or runc.
"""
