"""The engine's Windows host parts: what ``dockyardd`` composes on Windows CPython.

No overlayfs, conmon, cgroups, seccomp, user namespaces or Linux networking
here: those modules are simply not composed on Windows.  Containers run on job
objects through the job-object runtime's command line (``python -m
dockyard.runtime.windows.cli``, docs/windows.md), never by importing it.
"""
