"""Builds through docker-py (``client.images.build``) and docker-compose 1.29 ``build:`` sections."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
import tarfile

import docker as dockerpy
import pytest

from tests.support.daemon import docker

COMPOSE = os.environ.get("DOCKYARD_COMPOSE", "/opt/dockyard/compose-venv/bin/docker-compose")


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


@pytest.fixture
def client(d):
    c = dockerpy.DockerClient(base_url=d.docker_host, timeout=120)
    yield c
    c.close()


@pytest.fixture
def name(d):
    repo = f"dytest-pybuild-{secrets.token_hex(3)}"
    yield repo
    for iid in set(docker(d, "images", "-q", "--filter", f"reference={repo}*").stdout.split()):
        docker(d, "rmi", "-f", iid)


def test_dockerpy_build_returns_image_and_log(client, name, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG MSG\nRUN echo \"say $MSG\" > /msg\nCMD [\"cat\", \"/msg\"]\n")
    image, stream = client.images.build(path=str(tmp_path), tag=name, buildargs={"MSG": "hi"}, rm=True)
    logs = list(stream)
    assert name + ":latest" in image.tags
    text = "".join(chunk.get("stream", "") for chunk in logs)
    assert "Step 3/4 : RUN echo \"say $MSG\" > /msg" in text and f"Successfully tagged {name}:latest" in text
    assert any("aux" in chunk and chunk["aux"]["ID"] == image.id for chunk in logs)
    assert client.containers.run(name, remove=True) == b"say hi\n"


def test_dockerpy_build_error_raises_builderror(client, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    with pytest.raises(dockerpy.errors.BuildError) as info:
        client.images.build(path=str(tmp_path))
    assert info.value.msg == "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    assert any(chunk.get("errorDetail", {}).get("code") == 3 for chunk in info.value.build_log)


def test_dockerpy_fileobj_and_gzip_context(client, name):
    image, _ = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nLABEL from=fileobj\n"), tag=name)
    assert image.labels == {"from": "fileobj"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for n, data in (("Dockerfile", b"FROM busybox\nCOPY f /f\n"), ("f", b"gz-context")):
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, encoding="gzip", tag=name)
    assert client.containers.run(name, ["cat", "/f"], remove=True) == b"gz-context"


def test_dockerpy_syntax_error_is_an_api_error(client, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nNOPE x\n")
    with pytest.raises(dockerpy.errors.APIError, match="dockerfile parse error line 2: unknown instruction: NOPE"):
        client.images.build(path=str(tmp_path))


def test_compose_build_sections(d, name, tmp_path):
    if not os.path.exists(COMPOSE):
        pytest.fail(f"docker-compose 1.29 is not installed at {COMPOSE}: run scripts/compose-venv.sh")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile.dev").write_text("FROM busybox AS other\nFROM busybox\nARG FLAVOUR\n"
                                                     "COPY hello /hello\nRUN echo \"$FLAVOUR\" >> /hello\n")
    (tmp_path / "app" / "hello").write_text("from compose\n")
    (tmp_path / "docker-compose.yml").write_text(f"""version: "3.7"
services:
  web:
    image: {name}:web
    build:
      context: ./app
      dockerfile: Dockerfile.dev
      target: other
      args:
        FLAVOUR: vanilla
      labels:
        made.by: compose
  plain:
    image: {name}:plain
    build:
      context: ./app
      dockerfile: Dockerfile.dev
      args:
        FLAVOUR: chocolate
""")
    env = d.env()
    env["COMPOSE_PROJECT_NAME"] = name
    p = subprocess.run([COMPOSE, "build"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Successfully tagged" in p.stdout + p.stderr
    out = docker(d, "run", "--rm", f"{name}:web", "cat", "/hello")
    assert out.returncode != 0  # target `other` has no /hello
    assert docker(d, "image", "inspect", "-f", "{{index .Config.Labels \"made.by\"}}", f"{name}:web").stdout == \
        "compose\n"
    assert docker(d, "run", "--rm", f"{name}:plain", "cat", "/hello").stdout == "from compose\nchocolate\n"
    shutil.rmtree(tmp_path / "app")


@pytest.mark.skipif(not os.path.exists("/usr/bin/docker-registry"), reason="needs docker-registry (scripts/install.sh)")
def test_from_an_image_not_here_pulls_it(d, tmp_path):
    from tests.support.registry import new_registry

    reg = new_registry()
    reg.start()
    base = f"{reg.host}/dytest-base-{secrets.token_hex(3)}:v1"
    try:
        docker(d, "tag", "busybox:latest", base, check=True)
        docker(d, "push", base, check=True)
        docker(d, "rmi", base, check=True)
        (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN echo pulled-base > /p\n")
        env = d.env()
        env["DOCKER_BUILDKIT"] = "0"
        p = subprocess.run(["docker", "build", "-t", f"{base}-child", str(tmp_path)], env=env, capture_output=True,
                           text=True, timeout=180)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "Pulling from" in p.stdout and "Status: Downloaded newer image" in p.stdout
        assert docker(d, "run", "--rm", f"{base}-child", "cat", "/p").stdout == "pulled-base\n"
    finally:
        for ref in (base, f"{base}-child"):
            docker(d, "rmi", "-f", ref)
        reg.cleanup()


def test_dockerpy_cache_from_uses_only_those_images(client, name):
    """dockerd's rule (docker-py's test_build_with_cache_from): with cache_from, only those images
    and their parents are a cache, not a local build they do not descend from."""
    df = f"FROM busybox\nENV FOO={name}\nRUN touch /baz\nRUN touch /bax\n".encode()

    def hits(**kw) -> int:
        stream = client.api.build(fileobj=io.BytesIO(df), decode=True, **kw)
        return sum("Using cache" in chunk.get("stream", "") for chunk in stream)

    assert hits(tag=f"{name}:one") == 0
    assert hits(tag=f"{name}:two", cache_from=[f"{name}:one"]) == 3
    assert hits(tag=f"{name}:three", cache_from=[f"{name}:no-such-tag"]) == 0
    assert hits(tag=f"{name}:four") == 3  # without cache_from the local cache serves


def test_dockerpy_extra_hosts_reach_the_run_steps(client, name):
    """docker-py sends one ``extrahosts`` query value per host, as moby's own client."""
    df = b"FROM busybox\nRUN ping -c1 -W1 hello.world.test && cp /etc/hosts /hosts-file\n"
    image, _ = client.images.build(fileobj=io.BytesIO(df), tag=name,
                                   extra_hosts={"hello.world.test": "127.0.0.1", "extra.local.test": "127.0.0.2"})
    out = client.containers.run(image.id, ["cat", "/hosts-file"], remove=True).decode()
    assert "127.0.0.1\thello.world.test" in out and "127.0.0.2\textra.local.test" in out
