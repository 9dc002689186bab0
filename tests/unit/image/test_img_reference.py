"""Image references against Docker's distribution/reference behaviour."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.image import reference as r

HEX = "a" * 64


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox", "busybox"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox", "busybox"),
    ("docker.io/busybox", "docker.io/library/busybox", "busybox"),
    ("index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x"),
    ("foo/bar", "docker.io/foo/bar", "foo/bar"),
    ("foo/bar/baz:t", "docker.io/foo/bar/baz:t", "foo/bar/baz:t"),
    ("localhost/foo", "localhost/foo", "localhost/foo"),
    ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
    ("registry.example.com/x", "registry.example.com/x", "registry.example.com/x"),
    ("Foo.com/bar", "Foo.com/bar", "Foo.com/bar"),
    ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
    ("a-b__c.d/e", "a-b__c.d/e", "a-b__c.d/e"),
    ("a__b", "docker.io/library/a__b", "a__b"),
    ("a---b", "docker.io/library/a---b", "a---b"),
    (f"foo@sha256:{HEX}", f"docker.io/library/foo@sha256:{HEX}", f"foo@sha256:{HEX}"),
    (f"foo:t@sha256:{HEX}", f"docker.io/library/foo:t@sha256:{HEX}", f"foo:t@sha256:{HEX}"),
    ("sha256:abc", "docker.io/library/sha256:abc", "sha256:abc"),
])
def test_normalize_and_familiar(text, full, familiar):
    ref = r.parse_normalized(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize("text, message", [
    ("Foo", "invalid reference format: repository name (library/Foo) must be lowercase"),
    ("foo/Bar", "invalid reference format: repository name (foo/Bar) must be lowercase"),
    ("", "invalid reference format"),
    ("-foo", "invalid reference format"),
    ("foo-", "invalid reference format"),
    ("foo:", "invalid reference format"),
    ("a:b:c", "invalid reference format"),
    ("foo//bar", "invalid reference format"),
    ("foo_-bar", "invalid reference format"),
    ("foo:-tag", "invalid reference format"),
    ("foo@sha256:abc", "invalid reference format"),
    ("foo:" + "t" * 129, "invalid reference format"),
    (HEX, f"invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"),
    ("a/" * 127 + "abc", "repository name must not be more than 255 characters"),
])
def test_invalid_references_give_dockers_messages(text, message):
    with pytest.raises(InvalidParameter) as exc:
        r.parse_normalized(text)
    assert str(exc.value) == message


def test_default_tag_only_when_no_tag_or_digest():
    assert r.parse_normalized("busybox").with_default_tag().familiar() == "busybox:latest"
    assert r.parse_normalized("busybox:1").with_default_tag().familiar() == "busybox:1"
    digested = r.parse_normalized(f"busybox@sha256:{HEX}")
    assert digested.with_default_tag() == digested


def test_parse_any_recognizes_ids():
    assert r.parse_any(HEX) == f"sha256:{HEX}"
    assert r.parse_any(f"sha256:{HEX}") == f"sha256:{HEX}"
    assert isinstance(r.parse_any("busybox"), r.Reference)


def test_repo_tag_pair_like_dockerd():
    assert r.normalize_repo_tag("foo", None).familiar() == "foo:latest"
    assert r.normalize_repo_tag("foo", "1").familiar() == "foo:1"
    assert r.normalize_repo_tag("foo:1", None).familiar() == "foo:1"
    assert r.normalize_repo_tag("foo:1", "2").familiar() == "foo:2"
    with pytest.raises(InvalidParameter):
        r.normalize_repo_tag("foo", "bad tag")


@pytest.mark.parametrize("pattern, ref, match", [
    ("busybox", "busybox:latest", True),
    ("busy*", "busybox:latest", True),
    ("busybox:lat*", "busybox:latest", True),
    ("busybox:1", "busybox:latest", False),
    ("*", "foo/bar:1", False),
    ("*/*", "foo/bar:1", True),
    ("foo/*:1", "foo/bar:1", True),
    ("localhost:5000/*", "localhost:5000/x:y", True),
])
def test_reference_filter_glob(pattern, ref, match):
    assert r.familiar_match(pattern, r.parse_normalized(ref)) is match


def test_short_id():
    assert r.short_id(f"sha256:{HEX}") == "a" * 12
