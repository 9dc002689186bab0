"""What Wine does with each job-object feature, as the tests here measure it.

Wine 8.0 (Debian 12's ``wine``/``wine64``).  ``test_limits.py`` asserts each
entry against what really happens, and ``test_docs.py`` asserts that
docs/windows.md's support table says the same, so the docs never claim more
than was seen.  On a newer Wine an entry may change: the failing test says
which, and the table and docs are updated together.
"""

from __future__ import annotations

ENFORCED = "enforced under Wine"
NOT_ENFORCED = "accepted, not enforced under Wine"
REFUSED = "refused by Wine"
ZERO = "reported as 0 under Wine"
UNVERIFIED = "accepted, not observable under Wine"

# feature (as docs/windows.md names it) -> what Wine does
WINE_SUPPORT: dict[str, str] = {
    "process suspended, assigned, resumed": ENFORCED,
    "TerminateJobObject (kill the tree)": ENFORCED,
    "KILL_ON_JOB_CLOSE": ENFORCED,
    "JOB_OBJECT_LIMIT_ACTIVE_PROCESS": NOT_ENFORCED,
    "JOB_OBJECT_LIMIT_JOB_MEMORY": NOT_ENFORCED,
    "CPU rate control": REFUSED,
    "UI restrictions": UNVERIFIED,
    "accounting: process counts": ENFORCED,
    "accounting: CPU times": ZERO,
    "accounting: peak memory": ZERO,
    "process id list": ENFORCED,
}
