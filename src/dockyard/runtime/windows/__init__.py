"""dockyard's Windows runtime: process containers on job objects (docs/windows.md).

Chosen by platform, never by if-chains in shared code: the engine calls this
package's command line (``python -m dockyard.runtime.windows.cli``) on
Windows exactly as it calls ``dockyard-runtime`` on Linux.  Only ``win32``'s
structures and ``spec`` import on Linux; everything that calls kernel32 needs
Windows (or the Windows CPython under Wine, as the tests run it).
"""
