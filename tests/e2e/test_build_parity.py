"""``docker build`` as dockerd's classic builder does it: what bench/conformance_diff.py ``--only build`` found.

Each test holds one difference the diff showed between dockyard and dockerd
(docs/conformance-diff.md lists them): the real docker CLI with
DOCKER_BUILDKIT=0 against the session's dockyardd, base images made from the
local busybox rootfs.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import pytest

from tests.e2e.test_build_cli import build, d, inspect, name, write  # noqa: F401 (d, name: fixtures)
from tests.support.daemon import docker
from tests.support.reference import Engine

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def history(d, ref: str) -> list[str]:
    """CreatedBy of each step, oldest first."""
    out = docker(d, "history", "--no-trunc", "--format", "{{.CreatedBy}}", ref, check=True).stdout
    return list(reversed(out.splitlines()))


def test_each_stage_gets_the_default_path_as_dockerd(d, name, tmp_path):
    # the busybox base image has no Env: dockerd's builder adds PATH when a stage starts
    write(tmp_path, {"Dockerfile": "FROM busybox AS one\nLABEL a=1\nFROM busybox\nENV A=1\n"})
    p = build(d, tmp_path, "-t", name, "--target", "one")
    assert p.returncode == 0, p.stderr
    assert inspect(d, name)["Config"]["Env"] == [DEFAULT_PATH]
    p = build(d, tmp_path, "-t", f"{name}:2")
    assert p.returncode == 0, p.stderr
    assert inspect(d, f"{name}:2")["Config"]["Env"] == [DEFAULT_PATH, "A=1"]
    # an image that has its own PATH keeps it and gets none added
    write(tmp_path, {"Dockerfile": f"FROM {name}:2 AS one\nENV PATH=/x:/y\nFROM {name}:3\nLABEL b=2\n"})
    assert build(d, tmp_path, "-t", f"{name}:3", "--target", "one").returncode == 0
    p = build(d, tmp_path, "-t", f"{name}:4")
    assert p.returncode == 0, p.stderr
    assert inspect(d, f"{name}:4")["Config"]["Env"] == ["PATH=/x:/y", "A=1"]


def test_history_of_config_steps_shows_the_expanded_values(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": (
        "FROM busybox\n"
        "ARG B=bdef\n"
        "ARG C=${B}c\n"
        "ENV A=a V=\"x y\" W=${NOPE:-dflt} G=\\$A\n"
        "LABEL l1=$A \"q k\"=\"${V}\"\n"
        "USER ${A:-root}\n"
        "WORKDIR /w/$A\n"
        "WORKDIR sub\n"
        "VOLUME /v1 /v$A\n"
        "VOLUME [\"/j 1\"]\n"
        "STOPSIGNAL SIGUSR1\n"
        "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
        "EXPOSE 80 53/udp\n"
        "COPY --chown=1:2 f /f\n"
        "SHELL [\"/bin/sh\", \"-xc\"]\n"
        "CMD echo cmd\n"
        "USER root\n"), "f": "f"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    steps = history(d, name)[1:]
    steps = [re.sub(r"file:[0-9a-f]{64}", "file:<hash>", s) for s in steps]
    assert steps == [
        "/bin/sh -c #(nop)  ARG B=bdef",
        "/bin/sh -c #(nop)  ARG C=bdefc",
        "/bin/sh -c #(nop)  ENV A=a V=x y W=dflt G=$A",
        "/bin/sh -c #(nop)  LABEL l1=a q k=x y",
        "/bin/sh -c #(nop)  USER a",
        "/bin/sh -c #(nop) WORKDIR /w/a",
        "/bin/sh -c #(nop) WORKDIR /w/a/sub",
        "/bin/sh -c #(nop)  VOLUME [/v1 /va]",
        "/bin/sh -c #(nop)  VOLUME [/j 1]",
        "/bin/sh -c #(nop)  STOPSIGNAL SIGUSR1",
        # Go's %q of moby 28's HealthConfig (Test, Interval, Timeout, StartPeriod, StartInterval, Retries)
        "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"0s\" \"0s\" \"0s\" '\\x02'}",
        "/bin/sh -c #(nop)  EXPOSE 53/udp 80",
        "/bin/sh -c #(nop) COPY --chown=1:2file:<hash> in /f ",
        "/bin/sh -xc #(nop)  SHELL [/bin/sh -xc]",
        "/bin/sh -xc #(nop)  CMD [\"/bin/sh\" \"-xc\" \"echo cmd\"]",
        "/bin/sh -xc #(nop)  USER root",
    ]


@pytest.mark.parametrize("dockerfile,arg,text,out", [
    # a predefined proxy arg is in the RUN's environment but not in its history text: "|0 " all the same
    ("RUN echo \"[$HTTP_PROXY]\" > /p\n", "HTTP_PROXY=http://p:1", "|0 /bin/sh -c echo \"[$HTTP_PROXY]\" > /p",
     "[http://p:1]\n"),
    # an ARG that an ENV of the same name hides is left out of the text
    ("ARG X=arg\nARG Z=z\nENV X=env\nRUN echo \"$X\" > /p\n", "X=cli", "|1 Z=z /bin/sh -c echo \"$X\" > /p",
     "env\n"),
])
def test_run_history_prefix_of_the_build_args(d, name, tmp_path, dockerfile, arg, text, out):
    write(tmp_path, {"Dockerfile": "FROM busybox\n" + dockerfile})
    p = build(d, tmp_path, "-t", name, "--build-arg", arg)
    assert p.returncode == 0, p.stderr
    assert history(d, name)[-1] == text
    assert docker(d, "run", "--rm", name, "cat", "/p", check=True).stdout == out


@pytest.mark.parametrize("sig,ok", [("SIGUSR1", True), ("9", True), ("rtmin+2", True), ("BOGUS", False),
                                    ("0", False)])
def test_stopsignal_is_checked(d, name, tmp_path, sig, ok):
    write(tmp_path, {"Dockerfile": f"FROM busybox\nSTOPSIGNAL {sig}\n"})
    p = build(d, tmp_path, "-t", name)
    if ok:
        assert p.returncode == 0, p.stderr
        assert inspect(d, name)["Config"]["StopSignal"] == sig
    else:
        assert p.returncode == 1
        assert p.stderr.strip().splitlines()[-1] == f"Invalid signal: {sig}"
        assert docker(d, "image", "inspect", name).returncode == 1


def test_arg_with_a_blank_name_is_a_parse_error(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nARG =x\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == \
        "Error response from daemon: dockerfile parse error line 2: ARG names can not be blank"
    assert "Step 1/" not in p.stdout


def test_empty_dockerfile_names_the_file(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "", "other.df": ""})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == \
        "Error response from daemon: the Dockerfile (Dockerfile) cannot be empty"
    p = build(d, tmp_path, "-t", name, "-f", str(tmp_path / "other.df"))
    assert p.stderr.strip().splitlines()[-1] == \
        "Error response from daemon: the Dockerfile (other.df) cannot be empty"



def test_history_of_copy_from_a_stage_names_a_directory_as_dir(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox AS one\nRUN mkdir -p /o && echo 1 > /o/f\n"
                                   "FROM busybox\nCOPY --from=one /o /dir\nCOPY --from=one /o/f /file\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    steps = [re.sub(r":[0-9a-f]{64} ", ":<hash> ", s) for s in history(d, name)[-2:]]
    assert steps == ["/bin/sh -c #(nop) COPY dir:<hash> in /dir ", "/bin/sh -c #(nop) COPY file:<hash> in /file "]
    assert docker(d, "run", "--rm", name, "cat", "/dir/f", "/file", check=True).stdout == "1\n1\n"


def test_shell_form_cmd_does_not_set_args_escaped(d, name, tmp_path):
    # ArgsEscaped is for Windows; dockerd's classic builder leaves it out on Linux for either form
    write(tmp_path, {"Dockerfile": "FROM busybox\nENTRYPOINT [\"echo\"]\nCMD hi there\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    assert not inspect(d, name)["Config"].get("ArgsEscaped")
    assert docker(d, "run", "--rm", name, check=True).stdout == "/bin/sh -c hi there\n"


def test_copy_to_etc_hosts_and_hostname_stays_in_the_image(d, name, tmp_path):
    # only a container has an init layer; a COPY's layer keeps /etc/hosts, /etc/hostname (dockerd)
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY h /etc/hostname\nCOPY h /etc/hosts\nRUN true\n", "h": "mine\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    sizes = docker(d, "history", "--format", "{{.Size}}", name, check=True).stdout.split()
    assert sizes[1:3] == ["5B", "5B"], sizes
    raw = subprocess.run(["docker", "save", name], env=d.env(), capture_output=True, check=True).stdout
    found = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as image:
        for member in image.getmembers():
            if member.isfile() and member.size < 100_000:
                data = image.extractfile(member).read()
                try:
                    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                        for rel in ("etc/hostname", "etc/hosts"):
                            if rel in layer.getnames():
                                found[rel] = layer.extractfile(rel).read()
                except tarfile.TarError:
                    continue
    assert found == {"etc/hostname": b"mine\n", "etc/hosts": b"mine\n"}


def _ls(d, ref: str, *paths: str) -> list[str]:
    script = f"find {' '.join(paths)} -print0 | xargs -0 stat -c '%n %a %u:%g' | sort"
    return docker(d, "run", "--rm", "--entrypoint", "sh", ref, "-c", script, check=True).stdout.splitlines()


def test_copy_drops_setuid_as_dockerds_chown_does(d, name, tmp_path):
    # dockerd chowns every copied file, and the kernel then clears set-user-ID (and set-group-ID with
    # group execute); an archive ADD unpacks is not chowned and keeps them
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY . /c/\nADD t.tar /t/\n", "u": "u", "g": "g", "gn": "g",
                     "s/x": "x"})
    for rel, mode in (("u", 0o4755), ("g", 0o2755), ("gn", 0o2644), ("s", 0o1777)):
        (tmp_path / rel).chmod(mode)
    with tarfile.open(tmp_path / "t.tar", "w") as tar:
        info = tarfile.TarInfo("suid")
        info.mode = 0o4755
        tar.addfile(info, io.BytesIO(b""))
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    modes = dict(line.split()[:2] for line in _ls(d, name, "/c/u", "/c/g", "/c/gn", "/c/s", "/t/suid")
                 if line.count("/") == 2)
    assert modes == {"/c/u": "755", "/c/g": "755", "/c/gn": "2644", "/c/s": "1777", "/t/suid": "4755"}


def test_copy_of_a_directory_owns_only_what_it_makes(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY --chown=77:88 a /new/deep/a\nCOPY --chown=77:88 d /new2/deep/\n"
                                   "COPY d /bin/\nCOPY . /c/\nADD --chown=7:8 t.tar /t/\n",
                     "a": "a", "d/f": "f"})
    (tmp_path / "d").chmod(0o700)
    with tarfile.open(tmp_path / "t.tar", "w") as tar:
        tar.addfile(tarfile.TarInfo("in"), io.BytesIO(b""))
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    # a file's missing parents get the owner; a directory's parents are root's, the directory the owner's,
    # made 0755 whatever the source directory's mode; an existing directory keeps its mode and owner; an
    # archive's destination is root's
    assert _ls(d, name, "/new", "/new2", "/bin", "/c", "/t")[:1] + [
        line for line in _ls(d, name, "/new", "/new2", "/c", "/t") if line.count("/") <= 3] == [
        "/bin 755 0:0",
        "/c 755 0:0", "/c/Dockerfile 644 0:0", "/c/a 644 0:0", "/c/d 700 0:0", "/c/d/f 644 0:0", "/c/t.tar 644 0:0",
        "/new 755 77:88", "/new/deep 755 77:88", "/new/deep/a 644 77:88",
        "/new2 755 0:0", "/new2/deep 755 77:88", "/new2/deep/f 644 77:88",
        "/t 755 0:0", "/t/in 644 0:0"]


def test_copy_to_a_file_with_a_slash_fails_and_keeps_the_file(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY a /etc/passwd/\n", "a": "a"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == \
        "failed to copy files: failed to create new directory: mkdir /etc/passwd: not a directory"


def test_copy_from_a_stage_named_by_an_arg(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "ARG S=one\nFROM busybox AS one\nRUN echo 1 > /o\nFROM busybox\nARG S\n"
                                   "WORKDIR /w\nCOPY --from=${S} /o rel/\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    assert docker(d, "run", "--rm", name, "cat", "/w/rel/o", check=True).stdout == "1\n"
    # the destination as written, not resolved against WORKDIR
    assert re.sub(r":[0-9a-f]{64} ", ":<hash> ", history(d, name)[-1]) == \
        "/bin/sh -c #(nop) COPY file:<hash> in rel/ "


@pytest.mark.parametrize("step,error", [
    ("COPY a /etc/passwd/x", "failed to copy files: lstat /etc/passwd/x: not a directory"),
    ("COPY d /etc/passwd", "failed to copy files: failed to copy directory: mkdir /etc/passwd: not a directory"),
    ("WORKDIR /etc/passwd", "Cannot mkdir: /etc/passwd is not a directory"),
    ("WORKDIR /etc/passwd/x", "lstat /etc/passwd/x: not a directory"),
])
def test_a_file_in_the_way_is_an_error_worded_as_dockerd(d, name, tmp_path, step, error):
    write(tmp_path, {"Dockerfile": f"FROM busybox\n{step}\n", "a": "a", "d/f": "f"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == error


def test_history_names_each_intermediate_image_and_config_image_the_parent(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nLABEL a=1\nRUN echo x > /x\nHEALTHCHECK CMD true\n"
                                   "HEALTHCHECK NONE\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    # dockerd's note when a HEALTHCHECK replaces one
    assert "Step 5/5 : HEALTHCHECK NONE\nNote: overriding previous HEALTHCHECK: [CMD-SHELL true]\n" in p.stdout
    rows = docker(d, "history", "--no-trunc", "--format", "{{.ID}}", name, check=True).stdout.split()
    bb = docker(d, "image", "inspect", "--format", "{{.Id}}", "busybox", check=True).stdout.strip()
    assert "<missing>" not in rows and len(set(rows)) == 5 and rows[-1] == bb
    for child, parent in zip(rows, rows[1:]):
        assert inspect(d, child)["Parent"] == parent
        assert inspect(d, child)["Config"]["Image"] == parent  # the classic builder's Config.Image
    status, items = Engine("dockyard", d.socket, d.env()).request("GET", f"/images/{name}/history")
    assert status == 200
    assert [i["Tags"] for i in items] == [[f"{name}:latest"], None, None, None, ["busybox:latest"]]
    # a rebuild from the cache gives the same image
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0 and p.stdout.count("Using cache") == 4, p.stdout
    assert docker(d, "history", "--no-trunc", "--format", "{{.ID}}", name, check=True).stdout.split() == rows


def test_copy_of_a_directory_keeps_its_hard_links(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY hard /h/\nCOPY hard/a hard/b /two/\n", "hard/a": "h"})
    (tmp_path / "hard" / "b").hardlink_to(tmp_path / "hard" / "a")
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    out = docker(d, "run", "--rm", name, "stat", "-c", "%n %h %i", "/h/a", "/h/b", "/two/a", "/two/b",
                 check=True).stdout.split("\n")
    rows = [line.split() for line in out if line]
    assert [r[1] for r in rows] == ["2", "2", "1", "1"]  # linked within a directory's copy only (dockerd)
    assert rows[0][2] == rows[1][2]


def test_a_run_that_changes_nothing_adds_no_layer(d, name, tmp_path):
    # dockerd: an empty diff is an empty_layer history entry, no layer (its /etc/hosts etc. are elsewhere)
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN true\nRUN touch /etc/x\nRUN chmod 700 /etc && rm /etc/x\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    base = len(inspect(d, "busybox")["RootFS"]["Layers"])
    assert len(inspect(d, name)["RootFS"]["Layers"]) == base + 2
    sizes = docker(d, "history", "--format", "{{.Size}}", name, check=True).stdout.split()
    assert sizes[2] == "0B"
    out = docker(d, "run", "--rm", name, "stat", "-c", "%a", "/etc", check=True).stdout
    assert out == "700\n"


def test_commit_of_an_unchanged_container_adds_no_layer(d, name):
    cid = docker(d, "run", "-d", "busybox", "true", check=True).stdout.strip()
    try:
        docker(d, "wait", cid, check=True)
        docker(d, "commit", cid, name, check=True)
    finally:
        docker(d, "rm", "-f", cid)
    assert inspect(d, name)["RootFS"]["Layers"] == inspect(d, "busybox")["RootFS"]["Layers"]
    # so rmi deletes just the image (dockerd: one Deleted line)
    out = docker(d, "rmi", name, check=True).stdout.splitlines()
    assert [line.split(":")[0] for line in out] == ["Untagged", "Deleted"]


@pytest.mark.parametrize("option,error", [
    (["--security-opt", "seccomp=unconfined"],
     "The daemon on this platform does not support setting security options on build"),
    (["--isolation", "hyperv"], 'Unsupported isolation: "hyperv"'),
])
def test_build_options_dockerd_refuses(d, name, tmp_path, option, error):
    # --security-opt was accepted and ignored; dockerd refuses it on Linux
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN true\n"})
    p = build(d, tmp_path, "-t", name, *option)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == f"Error response from daemon: {error}"
    assert build(d, tmp_path, "-t", name, "--isolation", "default").returncode == 0


def test_expose_splits_a_variable_and_history_sorts_the_written_ports(d, name, tmp_path):
    write(tmp_path, {"Dockerfile": "FROM busybox\nENV P=\"81 82\" Q=9000\nEXPOSE 80 $P 53/udp\nEXPOSE 8000-8001 $Q 443\n"})
    p = build(d, tmp_path, "-t", name)
    assert p.returncode == 0, p.stderr
    assert sorted(inspect(d, name)["Config"]["ExposedPorts"]) == [
        "443/tcp", "53/udp", "80/tcp", "8000/tcp", "8001/tcp", "81/tcp", "82/tcp", "9000/tcp"]
    # dockerd sorts the ports as written ("$P" before digits), then expands them
    assert history(d, name)[-2:] == ["/bin/sh -c #(nop)  EXPOSE 81 82 53/udp 80",
                                     "/bin/sh -c #(nop)  EXPOSE 9000 443 8000-8001"]
