"""Malformed create bodies and names are 400s naming the field, and nothing is stored (issue 18).

Each body here used to give a 500 with a Python traceback, or was stored as
Infinity so that ``docker inspect`` failed on the record from then on.
"""

from __future__ import annotations

import json

import pytest

from tests.support.daemon import UnixHTTPConnection


def raw(daemon, method: str, path: str, body: bytes) -> tuple[int, dict]:
    conn = UnixHTTPConnection(daemon.socket, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else {}
    finally:
        conn.close()


def ids(daemon) -> set[str]:
    status, items = daemon.request("GET", "/containers/json?all=1")
    assert status == 200
    return {c["Id"] for c in items}


POISON = [
    ('"HostConfig":{"Memory":1e400}', "HostConfig.HostConfig.Memory of type int64"),
    ('"HostConfig":{"Memory":Infinity}', "invalid character 'I'"),
    ('"HostConfig":{"Memory":NaN}', "invalid character 'N'"),
    ('"HostConfig":{"Memory":1.5e8}', "number 1.5e8 into Go struct field HostConfig.HostConfig.Memory"),
    ('"HostConfig":{"Memory":1e36}', "number 1e36 into Go struct field HostConfig.HostConfig.Memory"),
    ('"HostConfig":{"ShmSize":1e30}', "HostConfig.HostConfig.ShmSize of type int64"),
    ('"HostConfig":{"Memory":"1g"}', "string into Go struct field HostConfig.HostConfig.Memory"),
    ('"HostConfig":{"NanoCpus":"x"}', "HostConfig.HostConfig.NanoCpus of type int64"),
    ('"Cmd":42', "ContainerConfigWrapper.Cmd of type string"),
    ('"HostConfig":[1,2]', "ContainerConfigWrapper.HostConfig of type container.HostConfig"),
    ('"Env":[1,2]', "ContainerConfigWrapper.Env of type string"),
    ('"Labels":["a"]', "ContainerConfigWrapper.Labels of type map[string]string"),
    ('"Env":{"A":"b"}', "ContainerConfigWrapper.Env of type []string"),
    ('"Unknown":' + "[" * 100_000 + "]" * 100_000, "exceeded max depth"),
]


@pytest.mark.parametrize(("fragment", "message"), POISON, ids=[f[:40] for f, _ in POISON])
def test_poison_values_are_400s_and_nothing_is_stored(dockyard_daemon, busybox_image, fragment, message):
    before = ids(dockyard_daemon)
    body = ('{"Image":"%s","Cmd":["true"],%s}' % (busybox_image, fragment)).encode()
    if fragment.startswith('"Cmd"'):
        body = ('{"Image":"%s",%s}' % (busybox_image, fragment)).encode()
    status, answer = raw(dockyard_daemon, "POST", "/containers/create", body)
    assert status == 400, answer
    assert message in answer["message"]
    assert ids(dockyard_daemon) == before
    for cid in before:  # every record still reads as JSON
        assert dockyard_daemon.request("GET", f"/containers/{cid}/json")[0] == 200


def test_wrong_image_type_is_400(dockyard_daemon):
    status, answer = raw(dockyard_daemon, "POST", "/containers/create", b'{"Image":123}')
    assert status == 400
    assert answer["message"] == ("json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Image "
                                 "of type string")


@pytest.mark.parametrize("name", ["abc%0A", "a", "_a", "a%20b", "%2Fx", "ab%00"])
def test_invalid_names_are_refused(dockyard_daemon, busybox_image, name):
    before = ids(dockyard_daemon)
    body = json.dumps({"Image": busybox_image, "Cmd": ["true"]}).encode()
    status, answer = raw(dockyard_daemon, "POST", f"/containers/create?name={name}", body)
    assert status == 400, answer
    assert answer["message"].startswith("Invalid container name (")
    assert answer["message"].endswith("), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    assert ids(dockyard_daemon) == before


def test_exec_update_and_commit_bodies_are_typed(dockyard_daemon, busybox_image):
    status, c = dockyard_daemon.request("POST", "/containers/create",
                                        {"Image": busybox_image, "Cmd": ["sleep", "60"]})
    assert status == 201
    cid = c["Id"]
    try:
        assert dockyard_daemon.request("POST", f"/containers/{cid}/start")[0] == 204
        status, answer = raw(dockyard_daemon, "POST", f"/containers/{cid}/exec", b'{"Cmd":["true"],"Tty":1}')
        assert (status, answer["message"]) == (
            400, "json: cannot unmarshal number into Go struct field ExecConfig.Tty of type bool")
        for body, message in ((b'{"Memory":"1g"}', "json: cannot unmarshal string into Go struct field "
                                                   "UpdateConfig.Memory of type int64"),
                              (b'{"CpuShares":1e400}', "json: cannot unmarshal number 1e400 into Go struct field "
                                                       "UpdateConfig.CpuShares of type int64"),
                              (b'[1]', "json: cannot unmarshal array into Go value of type container.UpdateConfig")):
            status, answer = raw(dockyard_daemon, "POST", f"/containers/{cid}/update", body)
            assert (status, answer["message"]) == (400, message)
        assert dockyard_daemon.request("GET", f"/containers/{cid}/json")[1]["HostConfig"]["CpuShares"] == 0
        status, answer = raw(dockyard_daemon, "POST", f"/commit?container={cid}", b'{"Env":[1e400]}')
        assert (status, answer["message"]) == (
            400, "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Env of type string")
    finally:
        dockyard_daemon.request("DELETE", f"/containers/{cid}?force=1")


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/networks/create", b'{"Name":1}',
     "json: cannot unmarshal number into Go struct field NetworkCreateRequest.Name of type string"),
    ("/networks/create", b'{"Name":"x","Labels":["a"]}',
     "json: cannot unmarshal array into Go struct field NetworkCreateRequest.Labels of type map[string]string"),
    ("/networks/create", b'{"Name":"y","IPAM":{"Config":[{"Subnet":1}]}}',
     "json: cannot unmarshal number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string"),
    ("/networks/none/connect", b'{"Container":1}',
     "json: cannot unmarshal number into Go struct field NetworkConnect.Container of type string"),
    ("/volumes/create", b'{"Name":1}',
     "json: cannot unmarshal number into Go struct field VolumeCreateBody.Name of type string"),
    ("/volumes/create", b'{"DriverOpts":{"size":1e400}}',
     "json: cannot unmarshal number into Go struct field VolumeCreateBody.DriverOpts of type string"),
])
def test_network_and_volume_bodies_are_typed(dockyard_daemon, path, body, message):
    status, answer = raw(dockyard_daemon, "POST", path, body)
    assert (status, answer["message"]) == (400, message)
