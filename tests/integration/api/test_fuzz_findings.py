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


@pytest.mark.parametrize("body, message", [
    ({"Container": ["x"]}, "Container of type string"),
    ({"Container": "x", "EndpointConfig": []}, "cannot unmarshal array into Go struct field"),
    ({"Container": "x", "EndpointConfig": {"Aliases": "a"}}, "cannot unmarshal string into Go struct field"),
])
def test_network_connect_with_wrong_types_is_a_400(dockyard_daemon, body, message):
    status, nets = dockyard_daemon.request("GET", "/networks")
    status, reply = dockyard_daemon.request("POST", f"/networks/{nets[0]['Id']}/connect", body)
    assert status == 400 and message in reply["message"], reply


def test_network_connect_still_connects(dockyard_daemon, busybox_image):
    status, net = dockyard_daemon.request("POST", "/networks/create", {"Name": "dyfuzzconnect"})
    assert status == 201, net
    status, c = dockyard_daemon.request("POST", "/containers/create", {"Image": busybox_image, "Cmd": ["true"]})
    try:
        status, reply = dockyard_daemon.request("POST", f"/networks/{net['Id']}/connect",
                                                {"Container": c["Id"], "EndpointConfig": {"Aliases": ["web"]}})
        assert status == 200, reply
        status, info = dockyard_daemon.request("GET", f"/containers/{c['Id']}/json")
        assert info["NetworkSettings"]["Networks"]["dyfuzzconnect"]["Aliases"][:1] == ["web"]
    finally:
        dockyard_daemon.request("DELETE", f"/containers/{c['Id']}?force=1")
        dockyard_daemon.request("DELETE", f"/networks/{net['Id']}")
