"""Request bodies are decoded against moby's types, with dockerd's words for every malformed field.

Each expected text below is what a real dockerd 20.10 answered to the same
body (checked side by side on this machine); dockerd answers them with a 500,
moby ≥ 23 and dockyard with a 400.
"""

from __future__ import annotations

import json

import pytest

from dockyard.api.bodies import ContainerConfig, CreateBody, ExecConfig, ExecStartCheck, UpdateConfig
from dockyard.api.godecode import decode
from dockyard.errors import InvalidParameter

W = "Go struct field ContainerConfigWrapper"
H = "Go struct field HostConfig.HostConfig"

DOCKERD_20_10 = [
    ('{"HostConfig":{"Memory":"1g"}}', f"json: cannot unmarshal string into {H}.Memory of type int64"),
    ('{"HostConfig":{"Memory":1e400}}', f"json: cannot unmarshal number 1e400 into {H}.Memory of type int64"),
    ('{"HostConfig":{"Memory":1.5e8}}', f"json: cannot unmarshal number 1.5e8 into {H}.Memory of type int64"),
    ('{"HostConfig":{"Memory":-1e3}}', f"json: cannot unmarshal number -1e3 into {H}.Memory of type int64"),
    ('{"HostConfig":{"Memory":9223372036854775808}}',
     f"json: cannot unmarshal number 9223372036854775808 into {H}.Memory of type int64"),
    ('{"HostConfig":{"ShmSize":1e30}}', f"json: cannot unmarshal number 1e30 into {H}.ShmSize of type int64"),
    ('{"HostConfig":{"NanoCpus":"x"}}', f"json: cannot unmarshal string into {H}.NanoCpus of type int64"),
    ('{"HostConfig":{"Memory":true}}', f"json: cannot unmarshal bool into {H}.Memory of type int64"),
    ('{"HostConfig":{"BlkioWeight":70000}}', f"json: cannot unmarshal number 70000 into {H}.BlkioWeight of type uint16"),
    ('{"HostConfig":{"BlkioWeight":-1}}', f"json: cannot unmarshal number -1 into {H}.BlkioWeight of type uint16"),
    ('{"HostConfig":{"IOMaximumIOps":-1}}', f"json: cannot unmarshal number -1 into {H}.IOMaximumIOps of type uint64"),
    ('{"HostConfig":{"ConsoleSize":[1,-1]}}', f"json: cannot unmarshal number -1 into {H}.ConsoleSize of type uint"),
    ('{"HostConfig":{"Privileged":"yes"}}', f"json: cannot unmarshal string into {H}.Privileged of type bool"),
    ('{"HostConfig":{"Binds":"a"}}', f"json: cannot unmarshal string into {H}.Binds of type []string"),
    ('{"HostConfig":{"CapAdd":1}}', f"json: cannot unmarshal number into {H}.CapAdd of type string"),
    ('{"HostConfig":{"CapAdd":[1]}}', f"json: cannot unmarshal array into {H}.CapAdd of type string"),
    ('{"HostConfig":{"Sysctls":[1]}}', f"json: cannot unmarshal array into {H}.Sysctls of type map[string]string"),
    ('{"HostConfig":{"Tmpfs":{"/a":1}}}', f"json: cannot unmarshal number into {H}.Tmpfs of type string"),
    ('{"HostConfig":{"Ulimits":[1]}}', f"json: cannot unmarshal number into {H}.Ulimits of type units.Ulimit"),
    ('{"HostConfig":{"RestartPolicy":"always"}}',
     f"json: cannot unmarshal string into {H}.RestartPolicy of type container.RestartPolicy"),
    ('{"HostConfig":{"Isolation":1}}', f"json: cannot unmarshal number into {H}.Isolation of type container.Isolation"),
    ('{"HostConfig":{"RestartPolicy":{"MaximumRetryCount":"3"}}}', "json: cannot unmarshal string into Go struct "
     "field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int"),
    ('{"HostConfig":{"Ulimits":[{"Name":"nofile","Soft":"1"}]}}',
     "json: cannot unmarshal string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64"),
    ('{"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":80}]}}}',
     "json: cannot unmarshal number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string"),
    ('{"HostConfig":{"Mounts":[{"Type":1}]}}',
     "json: cannot unmarshal number into Go struct field Mount.HostConfig.Mounts.Type of type mount.Type"),
    ('{"HostConfig":{"Mounts":[{"BindOptions":{"Propagation":1}}]}}', "json: cannot unmarshal number into Go struct "
     "field BindOptions.HostConfig.Mounts.BindOptions.Propagation of type mount.Propagation"),
    ('{"HostConfig":{"Mounts":[{"VolumeOptions":{"DriverConfig":{"Options":[1]}}}]}}', "json: cannot unmarshal array "
     "into Go struct field Driver.HostConfig.Mounts.VolumeOptions.DriverConfig.Options of type map[string]string"),
    ('{"HostConfig":{"Mounts":[{"TmpfsOptions":{"SizeBytes":"1"}}]}}', "json: cannot unmarshal string into Go struct "
     "field TmpfsOptions.HostConfig.Mounts.TmpfsOptions.SizeBytes of type int64"),
    ('{"HostConfig":{"Devices":[{"PathOnHost":1}]}}',
     "json: cannot unmarshal number into Go struct field DeviceMapping.HostConfig.Devices.PathOnHost of type string"),
    ('{"HostConfig":{"LogConfig":{"Config":{"a":1}}}}',
     "json: cannot unmarshal number into Go struct field LogConfig.HostConfig.LogConfig.Config of type string"),
    ('{"HostConfig":{"DeviceRequests":[{"Count":"1"}]}}',
     "json: cannot unmarshal string into Go struct field DeviceRequest.HostConfig.DeviceRequests.Count of type int"),
    ('{"HostConfig":{"DeviceRequests":[{"Capabilities":[[1]]}]}}', "json: cannot unmarshal number into Go struct "
     "field DeviceRequest.HostConfig.DeviceRequests.Capabilities of type string"),
    ('{"HostConfig":{"BlkioWeightDevice":[{"Weight":"1"}]}}',
     "json: cannot unmarshal string into Go struct field WeightDevice.HostConfig.BlkioWeightDevice.Weight of type uint16"),
    ('{"HostConfig":{"BlkioDeviceReadBps":[{"Rate":"1"}]}}', "json: cannot unmarshal string into Go struct field "
     "ThrottleDevice.HostConfig.BlkioDeviceReadBps.Rate of type uint64"),
    ('{"Cmd":42}', f"json: cannot unmarshal number into {W}.Cmd of type string"),
    ('{"Entrypoint":[1]}', f"json: cannot unmarshal array into {W}.Entrypoint of type string"),
    ('{"HostConfig":[1,2]}', f"json: cannot unmarshal array into {W}.HostConfig of type container.HostConfig"),
    ('{"Image":123}', f"json: cannot unmarshal number into {W}.Image of type string"),
    ('{"Env":[1,2]}', f"json: cannot unmarshal number into {W}.Env of type string"),
    ('{"Env":{"a":"b"}}', f"json: cannot unmarshal object into {W}.Env of type []string"),
    ('{"Labels":["a"]}', f"json: cannot unmarshal array into {W}.Labels of type map[string]string"),
    ('{"Tty":1}', f"json: cannot unmarshal number into {W}.Tty of type bool"),
    ('{"StopTimeout":1.5}', f"json: cannot unmarshal number 1.5 into {W}.StopTimeout of type int"),
    ('{"ExposedPorts":{"80/tcp":1}}', f"json: cannot unmarshal number into {W}.ExposedPorts of type struct {{}}"),
    ('{"Volumes":[1]}', f"json: cannot unmarshal array into {W}.Volumes of type map[string]struct {{}}"),
    ('{"OnBuild":1}', f"json: cannot unmarshal number into {W}.OnBuild of type []string"),
    ('{"Healthcheck":{"Interval":"1s"}}',
     "json: cannot unmarshal string into Go struct field HealthConfig.Healthcheck.Interval of type time.Duration"),
    ('{"Healthcheck":{"Test":1}}',
     "json: cannot unmarshal number into Go struct field HealthConfig.Healthcheck.Test of type []string"),
    ('{"NetworkingConfig":{"EndpointsConfig":{"a":{"Aliases":"x"}}}}', "json: cannot unmarshal string into Go struct "
     "field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string"),
    ('{"NetworkingConfig":{"EndpointsConfig":[1]}}', "json: cannot unmarshal array into Go struct field "
     "NetworkingConfig.NetworkingConfig.EndpointsConfig of type map[string]*network.EndpointSettings"),
    ('{"NetworkingConfig":{"EndpointsConfig":{"a":{"IPAMConfig":{"IPv4Address":1}}}}}', "json: cannot unmarshal "
     "number into Go struct field EndpointIPAMConfig.NetworkingConfig.EndpointsConfig.IPAMConfig.IPv4Address "
     "of type string"),
    ('{"image":"x","hostconfig":{"memory":"1"}}', f"json: cannot unmarshal string into {H}.Memory of type int64"),
    ('[1]', "json: cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper"),
    ('"x"', "json: cannot unmarshal string into Go value of type runconfig.ContainerConfigWrapper"),
    ('{"HostConfig":{"Memory":NaN}}', "invalid character 'N' looking for beginning of value"),
    ('{"HostConfig":{"Memory":Infinity}}', "invalid character 'I' looking for beginning of value"),
    ('{"HostConfig":{"Memory":-Infinity}}', "invalid character 'I' in numeric literal"),
]


@pytest.mark.parametrize(("body", "message"), DOCKERD_20_10, ids=[b for b, _ in DOCKERD_20_10])
def test_create_body_errors_are_dockerds(body, message):
    with pytest.raises(InvalidParameter) as exc:
        decode(body.encode(), CreateBody)
    assert str(exc.value) == message


@pytest.mark.parametrize(("model", "body", "message"), [
    (ExecConfig, '{"Cmd":1}', "json: cannot unmarshal number into Go struct field ExecConfig.Cmd of type []string"),
    (ExecConfig, '{"Cmd":"ls"}', "json: cannot unmarshal string into Go struct field ExecConfig.Cmd of type []string"),
    (ExecConfig, '{"Privileged":"a"}', "json: cannot unmarshal string into Go struct field ExecConfig.Privileged "
     "of type bool"),
    (ExecConfig, '[1]', "json: cannot unmarshal array into Go value of type types.ExecConfig"),
    (ExecStartCheck, '{"Detach":1}', "json: cannot unmarshal number into Go struct field ExecStartCheck.Detach "
     "of type bool"),
    (ContainerConfig, '{"Cmd":1}', f"json: cannot unmarshal number into {W}.Cmd of type string"),
    (UpdateConfig, '{"Memory":"x"}', "json: cannot unmarshal string into Go struct field UpdateConfig.Memory "
     "of type int64"),
    (UpdateConfig, '{"RestartPolicy":{"Name":1}}', "json: cannot unmarshal number into Go struct field "
     "RestartPolicy.RestartPolicy.Name of type container.RestartPolicyMode"),
    (UpdateConfig, '[1]', "json: cannot unmarshal array into Go value of type container.UpdateConfig"),
])
def test_other_bodies_errors(model, body, message):
    with pytest.raises(InvalidParameter) as exc:
        decode(body.encode(), model)
    assert str(exc.value) == message


def test_deep_nesting_is_an_error_not_a_recursion():
    body = b'{"Image":"x","Foo":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(InvalidParameter, match="exceeded max depth"):
        decode(body, CreateBody)
    with pytest.raises(InvalidParameter, match=r"invalid character '\{' exceeded max depth"):
        decode(b'{"a":"[[[[", "b":' + b'{"c":' * 50_000 + b"1" + b"}" * 50_000 + b"}", CreateBody)


def test_valid_body_keeps_the_given_fields_typed_and_drops_the_unknown():
    body = {"image": "x", "Cmd": "ls", "Unknown": 1e300, "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"Memory": None, "PidsLimit": None, "ConsoleSize": [1, 2, 3], "Junk": [1]},
            "NetworkingConfig": {"EndpointsConfig": {"none": None}}}
    out = decode(json.dumps(body).encode(), CreateBody)
    assert out == {"Image": "x", "Cmd": ["ls"], "ExposedPorts": {"80/tcp": {}},
                   "HostConfig": {"PidsLimit": None, "ConsoleSize": [1, 2]},
                   "NetworkingConfig": {"EndpointsConfig": {"none": None}}}
    json.dumps(out, allow_nan=False)


def test_empty_and_null_bodies():
    assert decode(b"", CreateBody) is None
    assert decode(b"null", CreateBody) is None
    assert decode(b"{}", CreateBody) == {}
