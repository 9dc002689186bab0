"""dockyard's Windows runtime: process containers on job objects (docs/windows.md).

Chosen by platform, never by if-chains in shared code: the engine calls this
package's command line (``python -m dockyard.runtime.windows.cli``) on
Windows exactly as it calls ``dockyard-runtime`` on Linux.  Only ``spec``
(and the leaf ``dockyard.win32``'s structures) import on Linux; everything that
calls kernel32 needs Windows (or the Windows CPython under Wine, as the tests
run it).  The Win32 declarations (``dockyard.win32``) and the job-object name
and accounting reader (``dockyard.jobobject``) are leaf modules outside this
package, because the engine reads a job's accounting too and imports nothing
of this package.
"""
