"""The builder's sans-I/O parts: word processing, .dockerignore, Dockerfile checks, config instructions."""

from __future__ import annotations

import io
import tarfile

import pytest

from dockyard import errors
from dockyard.build import instructions as inst
from dockyard.build.context import unpack
from dockyard.build.dockerfile import parse
from dockyard.build.dockerignore import Matcher, parse as parse_ignore
from dockyard.build.shell import process_word, process_words

ENV = {"A": "a", "EMPTY": "", "P": "/x"}


@pytest.mark.parametrize("text,want", [
    ("$A", "a"), ("${A}b", "ab"), ("${NOPE:-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""),
    ("${A:+set}", "set"), ("${NOPE:+set}", ""), ("${EMPTY+set}", "set"), ("'$A'", "$A"), ('"$A b"', "a b"),
    ("\\$A", "$A"), ('"\\$A"', "$A"), ("${P}/y", "/x/y"), ("a\\ b", "a b"), ("$", "$"),
])
def test_process_word(text, want):
    assert process_word(text, ENV) == want


def test_process_words_split_and_escape_directive():
    assert process_words('a "b c" ${A}', ENV) == ["a", "b c", "a"]
    assert process_word("x`$A", ENV, escape="`") == "x$A"


def test_bad_substitution():
    with pytest.raises(errors.InvalidParameter):
        process_word("${A", ENV)
    with pytest.raises(errors.InvalidParameter, match="NOPE: must be set"):
        process_word("${NOPE:?must be set}", ENV)


@pytest.mark.parametrize("path,excluded", [
    ("a.log", True), ("keep.log", False), ("sub/a.log", False), ("docs/x/y", True), ("a/b/tmp", True),
    ("tmp", True), ("build/a.o", True), ("build/x/a.o", False), ("Dockerfile", False), (".dockerignore", False),
    ("src/main.c", False),
])
def test_dockerignore_rules(path, excluded):
    m = Matcher(parse_ignore("# comment\n*.log\n!keep.log\ndocs\n**/tmp\n/build/*.o\nDockerfile\n.dockerignore\n"),
                always=("Dockerfile", ".dockerignore"))
    assert m.excluded(path) is excluded


def test_dockerignore_directory_excludes_children_without_exceptions():
    m = Matcher(parse_ignore("**/tmp\n"))
    assert m.excluded("tmp/x") and m.excluded("a/tmp/b/c")
    m = Matcher(parse_ignore("node_modules\n!node_modules/keep\n"))
    assert m.excluded("node_modules/x") and not m.excluded("node_modules/keep")


def test_parse_stages_and_meta_args():
    df = parse("ARG B=busybox\nFROM $B AS one\nRUN a\nFROM one\nCOPY --from=one /a /b\n")
    assert [a.original for a in df.meta_args] == ["ARG B=busybox"]
    assert [(s.name, s.base, len(s.instructions)) for s in df.stages] == [("one", "$B", 1), (None, "one", 1)]
    assert df.stages[1].instructions[0].flag("from") == "one"


@pytest.mark.parametrize("text,msg", [
    ("FROM x\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO"),
    ("RUN true\n", "no build stage in current context"),
    ("FROM x\nENV\n", "dockerfile parse error line 2: ENV requires at least one argument"),
    ("FROM x\nCOPY a\n", "dockerfile parse error line 2: COPY requires at least two arguments"),
    ("FROM x\nLABEL a\n", "LABEL must have two arguments"),
    ("FROM x AS a\nFROM y AS a\n", "duplicate name a"),
    ("FROM x\nSHELL sh -c\n", "SHELL requires the arguments to be in JSON form"),
    ("FROM x\nCOPY --foo=1 a b\n", "dockerfile parse error line 2: Unknown flag: foo"),
    ("FROM x\nRUN --mount=type=cache,target=/c true\n", "the --mount option requires BuildKit"),
    ("FROM x\nHEALTHCHECK --interval=x CMD true\n", "dockerfile parse error line 2: invalid duration"),
])
def test_parse_errors(text, msg):
    with pytest.raises(errors.InvalidParameter, match=msg):
        parse(text)


def test_continuations_comments_escape_and_heredoc():
    df = parse("# escape=`\nFROM x\n# a comment\nRUN echo a `\n  b\nRUN <<EOT\necho hi\nEOT\n")
    run1, run2 = df.stages[0].instructions
    assert df.escape == "`" and run1.args == ("echo a   b",)
    assert run2.heredocs == (("EOT", "echo hi\n"),)


def _apply(cfg, line, env=None, state=None):
    df = parse(f"FROM x\n{line}\n")
    return inst.apply(cfg, df.stages[0].instructions[0], env or {}, "\\", state or {"shell": ["/bin/sh", "-c"]})


def test_config_instructions():
    cfg = _apply({}, 'ENV A=1 B="x y"')
    assert cfg["Env"] == ["A=1", "B=x y"]
    assert _apply({}, "ENV OLD style value")["Env"] == ["OLD=style value"]
    # ENV abc=bye def=$abc: def gets the abc from before this instruction
    assert _apply({"Env": ["abc=hello"]}, "ENV abc=bye def=$abc", env={"abc": "hello"})["Env"] == [
        "abc=bye", "def=hello"]
    assert _apply({}, "LABEL a=b c=\"d e\"")["Labels"] == {"a": "b", "c": "d e"}
    assert _apply({}, "CMD echo hi")["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert _apply({}, 'CMD ["a", "b"]')["Cmd"] == ["a", "b"]
    assert _apply({"Cmd": ["x"]}, "ENTRYPOINT [\"e\"]")["Cmd"] is None
    assert _apply({"Cmd": ["x"]}, "ENTRYPOINT [\"e\"]", state={"shell": [], "cmd_set": True})["Cmd"] == ["x"]
    assert _apply({}, "EXPOSE 80 53/udp")["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert _apply({}, "USER $U", env={"U": "app"})["User"] == "app"
    assert _apply({}, "VOLUME /a /b")["Volumes"] == {"/a": {}, "/b": {}}
    assert _apply({}, "STOPSIGNAL SIGKILL")["StopSignal"] == "SIGKILL"
    assert _apply({}, "HEALTHCHECK --interval=5s --retries=2 CMD true")["Healthcheck"] == {
        "Interval": 5_000_000_000, "Retries": 2, "Test": ["CMD-SHELL", "true"]}
    assert _apply({}, "HEALTHCHECK NONE")["Healthcheck"] == {"Test": ["NONE"]}
    assert _apply({}, "ONBUILD RUN echo x")["OnBuild"] == ["RUN echo x"]
    assert _apply({"WorkingDir": "/a"}, "WORKDIR b")["WorkingDir"] == "/a/b"
    state = {"shell": ["/bin/sh", "-c"]}
    assert _apply({}, 'SHELL ["/bin/ash", "-eo"]', state=state)["Shell"] == ["/bin/ash", "-eo"]
    assert state["shell"] == ["/bin/ash", "-eo"]
    with pytest.raises(errors.InvalidParameter, match="Invalid containerPort: abc"):
        _apply({}, "EXPOSE abc")


def _tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "f":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            else:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
    return buf.getvalue()


def test_context_unpack_hashes_ignores_mtime_and_applies_dockerignore(tmp_path):
    body = _tar([("Dockerfile", "f", b"FROM x\n"), (".dockerignore", "f", b"*.log\n"), ("a.log", "f", b"x"),
                 ("d", "d", None), ("d/f", "f", b"content")])
    ctx = unpack(io.BytesIO(body), str(tmp_path / "c"))
    assert sorted(ctx.hashes) == [".dockerignore", "Dockerfile", "d", "d/f"]
    assert (tmp_path / "c" / "d" / "f").read_bytes() == b"content"
    other = unpack(io.BytesIO(body), str(tmp_path / "c2"))
    assert other.hash_tree("d") == ctx.hash_tree("d")


@pytest.mark.parametrize("entries", [
    [("../evil", "f", b"x")],
    [("link", "l", "/etc"), ("link/passwd", "f", b"x")],
])
def test_context_refuses_escapes(tmp_path, entries):
    with pytest.raises(errors.InvalidParameter):
        unpack(io.BytesIO(_tar(entries)), str(tmp_path / "c"))
    assert not (tmp_path / "c").exists() and not (tmp_path / "evil").exists()


def test_context_raw_dockerfile_body(tmp_path):
    ctx = unpack(io.BytesIO(b"FROM busybox\nRUN true\n"), str(tmp_path / "c"))
    assert (tmp_path / "c" / "Dockerfile").read_bytes().startswith(b"FROM busybox")
    assert list(ctx.hashes) == ["Dockerfile"]
