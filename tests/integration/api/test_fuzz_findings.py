"""What the schemathesis run (bench/fuzz_api.py) found, kept as regressions: each was a 500."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("body, message", [
    ({"Container": ["x"]}, "cannot unmarshal array into Go struct field DisconnectOptions.Container of type string"),
    ({"Container": {"a": 1}}, "cannot unmarshal object into Go struct field DisconnectOptions.Container"),
    ({"Container": "x", "Force": "yes"}, "cannot unmarshal string into Go struct field DisconnectOptions.Force"),
])
def test_network_disconnect_with_wrong_types_is_a_400(dockyard_daemon, body, message):
    status, nets = dockyard_daemon.request("GET", "/networks")
    assert status == 200 and nets
    status, reply = dockyard_daemon.request("POST", f"/networks/{nets[0]['Id']}/disconnect", body)
    assert status == 400 and message in reply["message"]
