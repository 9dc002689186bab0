"""`docker import --change` instructions, applied like dockerd's BuildFromConfig."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os

import pytest

from dockyard.errors import InvalidParameter
from dockyard.image.archive import apply_changes, import_config, open_layer_stream, rfc3339_nano


def cfg(*changes: str) -> dict:
    return apply_changes(None, list(changes))


def test_no_changes_gives_go_zero_config():
    c = cfg()
    assert c["Cmd"] is None and c["Env"] is None and c["WorkingDir"] == "" and c["Labels"] is None


def test_cmd_json_and_shell_forms():
    assert cfg('CMD ["echo", "hi"]')["Cmd"] == ["echo", "hi"]
    assert cfg("CMD echo hi there")["Cmd"] == ["/bin/sh", "-c", "echo hi there"]
    assert cfg("cmd echo lower")["Cmd"] == ["/bin/sh", "-c", "echo lower"]


def test_entrypoint_resets_cmd_unless_cmd_given_first():
    c = cfg('ENTRYPOINT ["/bin/sh", "-c"]')
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] is None
    c = cfg("CMD x", "ENTRYPOINT top")
    assert c["Entrypoint"] == ["/bin/sh", "-c", "top"] and c["Cmd"] == ["/bin/sh", "-c", "x"]


def test_env_both_forms_quotes_and_expansion():
    c = cfg('ENV A=1 B="two words" C=\'$A\'', "ENV D value with spaces", "ENV E=${A}x F=$B", "ENV A=3")
    assert c["Env"] == ["B=two words", "C=$A", "D=value with spaces", "E=1x", "F=two words", "A=3"]


def test_env_errors():
    with pytest.raises(InvalidParameter, match="ENV must have two arguments"):
        cfg("ENV LONELY")
    with pytest.raises(InvalidParameter, match="can't find = in"):
        cfg("ENV A=1 B")


def test_workdir_user_stopsignal():
    c = cfg("WORKDIR /app", "WORKDIR sub/../lib", "USER app:app", "STOPSIGNAL SIGINT")
    assert c["WorkingDir"] == "/app/lib"
    assert c["User"] == "app:app"
    assert c["StopSignal"] == "SIGINT"
    assert cfg("WORKDIR rel")["WorkingDir"] == "/rel"


def test_expose_label_volume():
    c = cfg("EXPOSE 80 53/udp 8000-8001", 'LABEL a=b "c d"=e', "LABEL legacy value here",
            'VOLUME ["/data", "/logs"]', "VOLUME /more")
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert c["Labels"] == {"a": "b", "c d": "e", "legacy": "value here"}
    assert c["Volumes"] == {"/data": {}, "/logs": {}, "/more": {}}
    with pytest.raises(InvalidParameter, match="invalid containerPort"):
        cfg("EXPOSE http")


def test_healthcheck_and_onbuild():
    c = cfg("HEALTHCHECK --interval=5s --retries=2 CMD true", "ONBUILD RUN x")
    assert c["Healthcheck"] == {"Interval": 5_000_000_000, "Retries": 2, "Test": ["CMD-SHELL", "true"]}
    assert c["OnBuild"] == ["RUN x"]
    assert cfg("HEALTHCHECK NONE")["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize("change, word", [("FOO bar", "foo"), ("RUN echo", "run"), ("ADD a b", "add"),
                                          ("FROM busybox", "from")])
def test_invalid_change_command_dockers_text(change, word):
    with pytest.raises(InvalidParameter) as exc:
        cfg("CMD ok", change)
    assert str(exc.value) == f"{word} is not a valid change command"


def test_continuations_and_comments():
    c = apply_changes(None, ["# a comment\nENV A=1 \\\n  B=2"])
    assert c["Env"] == ["A=1", "B=2"]


def test_import_config_shape():
    now = rfc3339_nano(0)
    assert now == "1970-01-01T00:00:00Z"
    raw = import_config("sha256:" + "b" * 64, cfg("CMD sh"), "", "linux/arm64", now, "28.2.2")
    data = json.loads(raw)
    assert data["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "b" * 64]}
    assert data["architecture"] == "arm64" and data["os"] == "linux"
    assert data["history"] == [{"created": now, "comment": "Imported from -"}]
    assert data["config"]["Cmd"] == ["/bin/sh", "-c", "sh"]
    with pytest.raises(InvalidParameter):
        import_config("sha256:x", cfg(), "", "windows/amd64", now, "x")


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress])
def test_decompression_is_sniffed(compress):
    payload = b"tar bytes " * 1000
    assert open_layer_stream(io.BytesIO(compress(payload))).read() == payload


def test_corrupt_gzip_is_a_clear_error():
    data = gzip.compress(os.urandom(100000))[:5000]
    with pytest.raises(InvalidParameter, match="invalid gzip archive"):
        reader = open_layer_stream(io.BytesIO(data))
        while reader.read(65536):
            pass


def test_zstd_through_the_zstd_program():
    import shutil
    import subprocess

    # zstd layers are a product feature and scripts/install.sh installs zstd: missing is a failure
    assert shutil.which("zstd") is not None, "zstd is not installed (run scripts/install.sh)"
    payload = os.urandom(200_000) + b"tar" * 50_000
    packed = subprocess.run(["zstd", "-c"], input=payload, capture_output=True, check=True).stdout
    reader = open_layer_stream(io.BytesIO(packed))
    out = b""
    while chunk := reader.read(65536):
        out += chunk
    assert out == payload
    with pytest.raises(InvalidParameter, match="invalid zstd archive"):
        reader = open_layer_stream(io.BytesIO(packed[: len(packed) // 2]))
        while reader.read(65536):
            pass
