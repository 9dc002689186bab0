"""The restart decision and back-off (dockerd's restartmanager rules), without a daemon."""

from __future__ import annotations

import pytest

from dockyard.daemon.containers.restart import MAX_DELAY, next_delay, should_restart


def test_delay_doubles_from_100ms_up_to_a_minute_and_resets_after_10s():
    delays, d = [], 0.0
    for _ in range(12):
        d = next_delay(d, ran_for=0.5)
        delays.append(d)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == MAX_DELAY
    assert next_delay(6.4, ran_for=10.0) == 0.1
    assert next_delay(6.4, ran_for=9.9) == 12.8


@pytest.mark.parametrize("policy,code,manual,count,daemon_start,want", [
    ({"Name": "no"}, 1, False, 0, False, False),
    ({"Name": "always"}, 0, False, 0, False, True),
    ({"Name": "always"}, 0, True, 0, False, False),  # stop/kill by the user ends the loop
    ({"Name": "always"}, 0, True, 0, True, True),  # ... until the daemon starts again
    ({"Name": "unless-stopped"}, 0, True, 0, True, False),
    ({"Name": "unless-stopped"}, 0, False, 0, True, True),
    ({"Name": "on-failure"}, 0, False, 0, False, False),
    ({"Name": "on-failure"}, 1, False, 99, False, True),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, 1, False, 1, False, True),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, 1, False, 2, False, False),
])
def test_should_restart(policy, code, manual, count, daemon_start, want):
    assert should_restart(policy, code, manual, count, daemon_start=daemon_start) is want
