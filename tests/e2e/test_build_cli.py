"""``docker build`` (classic builder, DOCKER_BUILDKIT=0) through the real docker CLI."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


@pytest.fixture
def name(d):
    repo = f"dytest-build-{secrets.token_hex(3)}"
    yield repo
    for iid in set(docker(d, "images", "-q", "--filter", f"reference={repo}*").stdout.split()):
        docker(d, "rmi", "-f", iid)


def build(d, ctx, *args: str, input: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = d.env()
    env["DOCKER_BUILDKIT"] = "0"
    return subprocess.run(["docker", "build", *args, str(ctx) if ctx is not None else "-"], env=env, input=input,
                          capture_output=True, text=True, timeout=timeout)


def write(ctx, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def inspect(d, ref: str) -> dict:
    return json.loads(docker(d, "image", "inspect", ref, check=True).stdout)[0]


def run(d, ref: str, *cmd: str) -> str:
    return docker(d, "run", "--rm", ref, *cmd, check=True).stdout


def containers(d) -> list[str]:
    return docker(d, "ps", "-aq").stdout.split()


def test_build_output_cache_and_rebuild_after_change(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nENV A=1\nRUN echo hi \\\n  && echo there\nCOPY a.txt /x/\n"
                                   'CMD ["sh"]\n', "a.txt": "hello\n"})
    before = set(containers(d))
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    first = lines.index("Step 1/5 : FROM busybox")
    assert lines[first + 1].startswith(" ---> ") and lines[first + 2] == "Step 2/5 : ENV A=1"
    assert "Step 3/5 : RUN echo hi   && echo there" in lines
    i = lines.index("Step 3/5 : RUN echo hi   && echo there")
    assert lines[i + 1].startswith(" ---> Running in ") and lines[i + 2:i + 4] == ["hi", "there"]
    assert lines[i + 4] == f"Removing intermediate container {lines[i + 1].split()[-1]}"
    assert lines[-1] == f"Successfully tagged {name}:latest" and lines[-2].startswith("Successfully built ")
    image_id = lines[-2].split()[-1]
    assert run(d, name, "sh", "-c", "cat /x/a.txt; echo $A") == "hello\n1\n"
    assert set(containers(d)) == before  # intermediate containers removed
    # the same build again: every step from the cache, same image
    p = build(d, tmp_path, "-t", name)
    assert p.stdout.count(" ---> Using cache") == 4 and f"Successfully built {image_id}" in p.stdout
    # touching a file (new mtime, same content) keeps the cache; changing it does not
    os.utime(tmp_path / "a.txt", (1, 1))
    assert build(d, tmp_path).stdout.count(" ---> Using cache") == 4
    (tmp_path / "a.txt").write_text("changed\n")
    p = build(d, tmp_path, "-t", name)
    assert p.stdout.count(" ---> Using cache") == 2, p.stdout
    assert run(d, name, "cat", "/x/a.txt") == "changed\n"
    # --no-cache runs everything again
    p = build(d, tmp_path, "--no-cache")
    assert "Using cache" not in p.stdout and p.stdout.count("Running in") == 3


def test_failing_run_reports_dockerds_message_and_code(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo out; echo err >&2; exit 3\n"})
    p = build(d, tmp_path)
    assert p.returncode == 3
    assert "The command '/bin/sh -c echo out; echo err >&2; exit 3' returned a non-zero code: 3" in p.stderr
    assert "out\n" in p.stdout and "\x1b[91merr\n\x1b[0m" in p.stdout
    # dockerd keeps the failed step's container (unless --force-rm)
    assert build(d, tmp_path, "--force-rm").returncode == 3


def test_force_rm_removes_the_failed_container(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN exit 4\n"})
    before = set(containers(d))
    p = build(d, tmp_path, "--force-rm")
    assert p.returncode == 4 and set(containers(d)) == before


def test_quiet_prints_only_the_id(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo noisy\n"})
    p = build(d, tmp_path, "-q")
    assert p.returncode == 0 and p.stdout.startswith("sha256:") and len(p.stdout.split()) == 1


def test_syntax_error_before_any_step(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo should-not-run\nFOO bar\n"})
    p = build(d, tmp_path)
    assert p.returncode == 1
    assert "dockerfile parse error line 3: unknown instruction: FOO" in p.stderr
    assert "Step" not in p.stdout and "should-not-run" not in p.stdout


def test_missing_base_image(d, tmp_path):
    # a registry on a loopback port nobody listens on: the pull fails, the build says why
    write(tmp_path, {"Dockerfile": "FROM 127.0.0.1:9/dytest-no-such-image\nRUN echo never\n"})
    p = build(d, tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "127.0.0.1:9" in p.stderr and "Step 2" not in p.stdout, p.stdout + p.stderr


def test_config_instructions_land_in_the_image(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": """FROM busybox
LABEL a=b c="d e"
EXPOSE 8080 53/udp
USER app
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=7s --retries=2 CMD true
WORKDIR /srv
WORKDIR sub
ENTRYPOINT ["/bin/echo"]
CMD ["x"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo from-trigger > /tmp/trigger
MAINTAINER someone
USER root
RUN echo in-volume > /data/lost; echo kept > /kept
USER app
"""})
    assert build(d, tmp_path, "-t", name).returncode == 0
    cfg = inspect(d, name)["Config"]
    assert cfg["Labels"] == {"a": "b", "c": "d e"}
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["User"] == "app" and cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 7_000_000_000, "Retries": 2}
    assert cfg["WorkingDir"] == "/srv/sub" and cfg["Entrypoint"] == ["/bin/echo"] and cfg["Cmd"] == ["x"]
    assert cfg["Shell"] == ["/bin/sh", "-ec"] and cfg["OnBuild"] == ["RUN echo from-trigger > /tmp/trigger"]
    assert inspect(d, name)["Author"] == "someone"
    assert run(d, name, "y") == "y\n"
    # a RUN's changes below a VOLUME do not reach the image (dockerd's anonymous volume)
    ls = docker(d, "run", "--rm", "--entrypoint", "ls", name, "/data", "/kept", check=True).stdout
    assert ls == "/kept\n\n/data:\n"
    assert docker(d, "run", "--rm", "--entrypoint", "pwd", name, check=True).stdout == "/srv/sub\n"
    # ONBUILD runs in the child build
    write(tmp_path, {"Dockerfile": f"FROM {name}\nUSER root\n"})
    p = build(d, tmp_path, "-t", f"{name}:child")
    assert "# Executing 1 build trigger" in p.stdout, p.stdout
    out = docker(d, "run", "--rm", "--entrypoint", "cat", f"{name}:child", "/tmp/trigger")
    assert out.stdout == "from-trigger\n", out.stderr + p.stdout + p.stderr
    assert inspect(d, f"{name}:child")["Config"]["OnBuild"] is None


def test_shell_and_exec_forms_and_shell_instruction(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": 'FROM busybox\nRUN ["/bin/sh", "-c", "echo exec > /e"]\n'
                                   'SHELL ["/bin/sh", "-c", "echo shell-form:\\"$0\\" > /s; true"]\n'
                                   "RUN ignored-arg\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stdout + p.stderr
    assert run(d, name, "cat", "/e", "/s") == "exec\nshell-form:ignored-arg\n"


def test_args_buildargs_scope_substitution_and_unused_warning(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": """ARG BASE=busybox
FROM ${BASE}
ARG GREETING=hello
ARG GIVEN
ARG BASE
ENV WHO=${GIVEN:-nobody} SET=${GREETING:+yes} UNSET=${NOPE:+no}
RUN echo "$GREETING $WHO $SET [$UNSET] base=$BASE proxy=$http_proxy" > /out
FROM busybox
RUN echo "second [$GREETING]" > /out2
"""})
    p = build(d, tmp_path, "-t", name, "--build-arg", "GIVEN=world", "--build-arg", "UNUSED=1",
              "--build-arg", "http_proxy=http://proxy:1")
    assert p.returncode == 0, p.stderr
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in p.stdout
    assert run(d, name, "cat", "/out2") == "second []\n"
    write(tmp_path, {"Dockerfile": (tmp_path / "Dockerfile").read_text().split("FROM busybox\n")[0]})
    assert build(d, tmp_path, "-t", name, "--build-arg", "GIVEN=world").returncode == 0
    assert run(d, name, "cat", "/out") == "hello world yes [] base=busybox proxy=\n"
    hist = docker(d, "history", "--no-trunc", "--format", "{{.CreatedBy}}", name).stdout
    assert "|3 BASE=busybox GIVEN=world GREETING=hello /bin/sh -c echo" in hist


def test_multistage_target_and_copy_from(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": """FROM busybox AS base
RUN echo base > /base
FROM busybox AS unused
RUN echo unused-stage-ran
FROM base AS build
RUN echo built > /artifact
FROM busybox
COPY --from=build /artifact /base /got/
COPY --from=0 /base /zero
RUN echo final-stage
"""})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "unused-stage-ran" not in p.stdout
    assert run(d, name, "cat", "/got/artifact", "/got/base", "/zero") == "built\nbase\nbase\n"
    p = build(d, tmp_path, "--target", "build", "-t", f"{name}:t")
    assert p.returncode == 0 and "final-stage" not in p.stdout and "unused-stage-ran" not in p.stdout
    assert run(d, f"{name}:t", "cat", "/artifact") == "built\n"
    p = build(d, tmp_path, "--target", "nosuch")
    assert p.returncode == 1 and "failed to reach build target nosuch in Dockerfile" in p.stderr


def _tarball(path, members: dict[str, bytes], gz: bool = False) -> None:
    with tarfile.open(path, "w:gz" if gz else "w") as tf:
        for n, data in members.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))


def test_copy_and_add_rules(d, name, tmp_path):
    write(tmp_path, {"dir/a.txt": "A", "dir/sub/b.txt": "B", "one.txt": "1", "w1.md": "w1", "w2.md": "w2",
                     "Dockerfile": """FROM busybox
WORKDIR /work
COPY dir /copied
COPY dir/ /copied2/
COPY one.txt .
COPY one.txt /renamed
COPY one.txt /newdir/
COPY *.md /md/
COPY --chown=app:app --chmod=0600 one.txt /owned
ADD arch.tar.gz /unpacked/
ADD plain.tar /plain/
COPY arch.tar.gz /kept/
"""})
    _tarball(tmp_path / "arch.tar.gz", {"in/a": b"from-gz"}, gz=True)
    _tarball(tmp_path / "plain.tar", {"p": b"from-tar"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stdout + p.stderr
    out = run(d, name, "sh", "-c", "cat /copied/a.txt /copied/sub/b.txt /copied2/a.txt /work/one.txt /renamed "
                                   "/newdir/one.txt /md/w1.md /md/w2.md /unpacked/in/a /plain/p; "
                                   "stat -c '%U:%G %a' /owned; ls /kept")
    assert out == "ABA111w1w2from-gzfrom-tarapp:app 600\narch.tar.gz\n"
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY one.txt w1.md /notadir\n"})
    p = build(d, tmp_path)
    assert p.returncode == 1 and "the destination must be a directory and end with a /" in p.stderr


def test_dockerignore_and_dockerfile_options(d, name, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx, {".dockerignore": "*.secret\nlogs\n!logs/keep.log\nDockerfile\n", "a.secret": "s",
                "logs/x.log": "x", "logs/keep.log": "k", "ok.txt": "ok",
                "Dockerfile": "FROM busybox\nCOPY . /ctx/\n"})
    p = build(d, ctx, "-t", name)
    assert p.returncode == 0, p.stderr
    # the Dockerfile is read, then left out of the context because .dockerignore names it (dockerd)
    assert run(d, name, "sh", "-c", "cd /ctx && find . -type f | sort") == \
        "./.dockerignore\n./logs/keep.log\n./ok.txt\n"
    # -f inside the context, -f outside it, and the Dockerfile on stdin
    write(ctx, {"other/Build.df": "FROM busybox\nRUN echo inside > /f\n"})
    assert build(d, ctx, "-f", str(ctx / "other/Build.df"), "-t", name).returncode == 0
    assert run(d, name, "cat", "/f") == "inside\n"
    write(tmp_path, {"outside.df": "FROM busybox\nCOPY ok.txt /f\n"})
    assert build(d, ctx, "-f", str(tmp_path / "outside.df"), "-t", name).returncode == 0
    assert run(d, name, "cat", "/f") == "ok"
    p = build(d, None, "-t", name, input="FROM busybox\nRUN echo stdin > /f\n")
    assert p.returncode == 0, p.stderr
    assert run(d, name, "cat", "/f") == "stdin\n"
    p = build(d, ctx, "-f", "-", "-t", name, input="FROM busybox\nCOPY ok.txt /g\n")
    assert p.returncode == 0, p.stderr
    assert run(d, name, "cat", "/g") == "ok"


def test_heredoc_run(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN <<EOF\necho one > /h\necho two >> /h\nEOF\n"
                                   "RUN cat > /h2 <<EOT\nline\nEOT\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stdout + p.stderr
    assert run(d, name, "cat", "/h", "/h2") == "one\ntwo\nline\n"


def test_labels_and_several_tags(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\n"})
    p = build(d, tmp_path, "--label", "x=y", "--label", "z=$NOT expanded", "-t", f"{name}:a", "-t", f"{name}:b")
    assert p.returncode == 0, p.stderr
    assert "Step 2/3 : LABEL x=y" in p.stdout and "Step 3/3 : LABEL z=$NOT expanded" in p.stdout  # one step each
    assert f"Successfully tagged {name}:a" in p.stdout and f"Successfully tagged {name}:b" in p.stdout
    assert inspect(d, f"{name}:b")["Config"]["Labels"] == {"x": "y", "z": "$NOT expanded"}


@pytest.mark.parametrize("dockerfile,files,message", [
    ("FROM busybox\nCOPY ../x /x\n", {}, "forbidden path outside the build context: ../x"),
    ("FROM busybox\nCOPY link /x\n", {"link": "->/etc/passwd"}, "forbidden path outside the build context: link"),
    ("FROM busybox\nCOPY nothing /x\n", {}, "file not found in build context or excluded by .dockerignore"),
    ("FROM busybox\nCOPY no*.txt /x/\n", {}, "no source files were specified"),
    ("FROM busybox\nADD evil.tar /x/\n", {"evil.tar": "evil"}, "points outside the destination"),
])
def test_copy_safety(d, tmp_path, dockerfile, files, message):
    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": dockerfile})
    for rel, what in files.items():
        if what.startswith("->"):
            os.symlink(what[2:], ctx / rel)
        elif what == "evil":
            with tarfile.open(ctx / rel, "w") as tf:
                ti = tarfile.TarInfo("../../escaped")
                ti.size = 1
                tf.addfile(ti, io.BytesIO(b"x"))
    before = set(containers(d))
    p = build(d, ctx)
    assert p.returncode == 1 and message in p.stderr, p.stdout + p.stderr
    assert set(containers(d)) == before
    layers = os.listdir(os.path.join(d.data_root, "overlay2"))
    assert not [x for x in layers if x.startswith("build-")]
    assert not os.path.exists("/escaped") and not os.path.exists(tmp_path / "escaped")


def test_client_disconnect_stops_the_build(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    env = d.env()
    env["DOCKER_BUILDKIT"] = "0"
    before = set(containers(d))
    proc = subprocess.Popen(["docker", "build", "--no-cache", str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("started"):
                break
        assert set(containers(d)) != before  # the step's container exists
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and set(containers(d)) != before:
        time.sleep(0.2)
    assert set(containers(d)) == before
    layers = os.listdir(os.path.join(d.data_root, "overlay2"))
    assert not [x for x in layers if x.startswith("build-")]


def test_refused_options(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\n"})
    import docker as dockerpy

    client = dockerpy.APIClient(base_url=d.docker_host)
    with pytest.raises(dockerpy.errors.APIError, match="squash is only supported with experimental mode"):
        list(client.build(path=str(tmp_path), squash=True))
    p = build(d, tmp_path, "--platform", "linux/arm64")
    assert p.returncode == 1 and "platform" in p.stderr
    p = build(d, tmp_path, "--network", "nosuchnet")
    assert p.returncode == 1 and "networkmode: network nosuchnet not found" in p.stderr


def test_builder_prune_clears_the_cache(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo prune-me\n"})
    assert build(d, tmp_path).returncode == 0
    assert "Using cache" in build(d, tmp_path).stdout
    p = docker(d, "builder", "prune", "-f", "--filter", "until=1h")
    assert p.returncode != 0 and "filters" in p.stderr  # refused, not ignored
    assert "Using cache" in build(d, tmp_path).stdout
    p = docker(d, "builder", "prune", "-f")
    assert p.returncode == 0, p.stderr
    assert "Using cache" not in build(d, tmp_path).stdout


def test_rm_false_keeps_the_step_containers(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo kept-container\n"})
    before = set(containers(d))
    p = build(d, tmp_path, "--rm=false", "--no-cache")
    assert p.returncode == 0 and "Removing intermediate container" not in p.stdout
    left = set(containers(d)) - before
    assert len(left) == 1
    docker(d, "rm", "-f", *left)


def test_cache_from_an_image_without_local_cache_records(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo cache-from > /cf\nLABEL x=y\n"})
    assert build(d, tmp_path, "-t", name).returncode == 0
    assert docker(d, "builder", "prune", "-f").returncode == 0
    p = build(d, tmp_path)
    assert "Using cache" not in p.stdout  # the records are gone …
    p = build(d, tmp_path, "--cache-from", name)
    assert p.stdout.count("Using cache") == 2, p.stdout  # … and --cache-from matches the image's history


def test_build_options_reach_the_run_containers(d, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN ls /sys/class/net | tr '\\n' ' '; echo; "
                                   "grep dytest-host /etc/hosts; df -k /dev/shm | tail -1\n"})
    p = build(d, tmp_path, "--no-cache", "--network", "none", "--add-host", "dytest-host:10.1.2.3",
              "--shm-size", "16m")
    assert p.returncode == 0, p.stderr
    assert "\nlo \n" in p.stdout and "10.1.2.3\tdytest-host" in p.stdout
    assert " 16384 " in p.stdout
    p = build(d, tmp_path, "--no-cache", "--network", "host")
    assert p.returncode == 0 and "\nlo \n" not in p.stdout  # the host's interfaces
    net = f"dytest-buildnet-{secrets.token_hex(3)}"
    docker(d, "network", "create", net, check=True)
    try:
        p = build(d, tmp_path, "--no-cache", "--network", net)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "eth0" in p.stdout  # joined the user-defined network
    finally:
        docker(d, "network", "rm", net)
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes\n"})
    p = build(d, tmp_path, "--no-cache", "--memory", "64m")
    assert p.returncode == 0 and "67108864" in p.stdout, p.stdout + p.stderr
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN ulimit -n; cat /sys/fs/cgroup/cpu.max 2>/dev/null || "
                                   "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us\n"})
    p = build(d, tmp_path, "--no-cache", "--ulimit", "nofile=321:321", "--cpu-period", "100000",
              "--cpu-quota", "50000")
    assert p.returncode == 0 and "\n321\n" in p.stdout and "50000" in p.stdout, p.stdout + p.stderr


def test_built_layers_save_and_load_byte_for_byte(d, name, tmp_path):
    """Step layers are the steps' upper dirs moved into place; `docker save` must still replay them."""
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY data /data/\nRUN echo run > /r && rm /etc/passwd\n",
                     "data/a": "a" * 100_000, "data/sub/b": "b"})
    assert build(d, tmp_path, "-t", name).returncode == 0
    saved = tmp_path / "saved.tar"
    assert docker(d, "save", "-o", str(saved), name).returncode == 0
    docker(d, "rmi", "-f", name, check=True)
    assert docker(d, "load", "-i", str(saved)).returncode == 0
    out = run(d, name, "sh", "-c", "wc -c < /data/a; cat /data/sub/b /r; ls /etc/passwd 2>&1 || true")
    assert out.split("\n")[0].strip() == "100000" and "brun" in out and "No such file" in out



def test_copy_heredoc_and_add_url(d, name, tmp_path):
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("from-http\n")
    _tarball(served / "arch.tar.gz", {"inside": b"x"}, gz=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        write(tmp_path, {"Dockerfile": f"""FROM busybox
COPY <<EOT /etc/greeting
hello from a heredoc
EOT
ADD {url}/remote.txt /dl/
ADD {url}/arch.tar.gz /dl/
ADD {url}/remote.txt /renamed.txt
"""})
        p = build(d, tmp_path, "-t", name)
        assert p.returncode == 0, p.stdout + p.stderr
        out = run(d, name, "sh", "-c", "cat /etc/greeting /dl/remote.txt /renamed.txt; ls /dl; stat -c %a /renamed.txt")
        assert out == "hello from a heredoc\nfrom-http\nfrom-http\narch.tar.gz\nremote.txt\n600\n"
        write(tmp_path, {"Dockerfile": f"FROM busybox\nADD {url}/missing /x\n"})
        p = build(d, tmp_path)
        assert p.returncode == 1 and "404" in p.stderr
        write(tmp_path, {"Dockerfile": f"FROM busybox\nCOPY {url}/remote.txt /x\n"})
        p = build(d, tmp_path)
        assert p.returncode == 1 and "source can't be a URL for COPY" in p.stderr
    finally:
        server.shutdown()


def test_writes_through_image_symlinks_stay_in_the_rootfs(d, name, tmp_path):
    target = f"/tmp/dytest-escape-{secrets.token_hex(4)}"
    write(tmp_path, {"f": "payload", "Dockerfile": f"""FROM busybox
RUN mkdir -p {target} && ln -s {target} /esc && ln -s ../../../../../{target.lstrip('/')} /rel
COPY f /esc/f
COPY f /rel/g
WORKDIR /esc/made
"""})
    os.makedirs(target, exist_ok=True)
    try:
        p = build(d, tmp_path, "-t", name)
        assert p.returncode == 0, p.stdout + p.stderr
        assert os.listdir(target) == []  # nothing landed on the host
        assert run(d, name, "ls", target) == "f\ng\nmade\n"
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_from_platform_directives_and_copy_from_an_image(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "# syntax=docker/dockerfile:1\n# escape=`\n"
                                   "FROM --platform=linux/amd64 busybox\n"
                                   "RUN echo one `\n  two > /words\n"
                                   "COPY --from=busybox:latest /bin/busybox /bb\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stdout + p.stderr
    assert run(d, name, "sh", "-c", "cat /words; cmp /bb /bin/busybox && echo bb-ok") == "one two\nbb-ok\n"
    write(tmp_path, {"Dockerfile": "FROM --platform=linux/arm64 busybox\n"})
    p = build(d, tmp_path)
    assert p.returncode == 1 and "linux/arm64" in p.stderr


def test_run_steps_get_the_docker_run_security_defaults(d, tmp_path):
    probe = "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; cat /proc/self/attr/current 2>/dev/null; " \
            "ls /proc/kcore 2>&1 | head -1"
    write(tmp_path, {"Dockerfile": f"FROM busybox\nRUN {probe}\n"})
    p = build(d, tmp_path, "--no-cache")
    assert p.returncode == 0, p.stderr
    expected = docker(d, "run", "--rm", "busybox", "sh", "-c", probe, check=True).stdout
    assert expected.strip() and expected in p.stdout.replace("\x1b[91m", "").replace("\x1b[0m", "")
    assert "Seccomp:\t2" in expected


def test_cache_from_a_loaded_image_restores_its_steps(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nENV A=1\nRUN echo layer > /l\nCOPY f /f\nLABEL x=y\n", "f": "F"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    image_id = p.stdout.split("Successfully built ")[1].split()[0]
    saved = tmp_path / "saved.tar"
    docker(d, "save", "-o", str(saved), name, check=True)
    docker(d, "rmi", name, check=True)  # the intermediate images go with it
    docker(d, "builder", "prune", "-f", check=True)
    docker(d, "load", "-i", str(saved), check=True)
    p = build(d, tmp_path, "--cache-from", name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("Using cache") == 4, p.stdout
    assert f"Successfully built {image_id}" in p.stdout
    assert run(d, name, "cat", "/l", "/f") == "layer\nF"
