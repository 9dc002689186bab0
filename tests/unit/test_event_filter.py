"""docker events filters (moby's rules), on event dicts."""

from __future__ import annotations

from dockyard.daemon.eventfilter import check_filters, match_event, strip_tag

CID = "ab" * 32


def ev(type_="container", action="start", actor=CID, **attrs):
    return {"Type": type_, "Action": action, "scope": "local", "Actor": {"ID": actor, "Attributes": attrs}}


def test_container_by_id_prefix_or_name_and_not_other_types():
    e = ev(name="web", image="busybox:latest")
    assert match_event(e, {"container": [CID[:12]]}) and match_event(e, {"container": ["web"]})
    assert not match_event(e, {"container": ["busybox"]})
    assert not match_event(ev("image", "pull", "busybox:latest", name="busybox"), {"container": ["web"]})


def test_image_with_or_without_tag():
    e = ev(name="web", image="busybox:latest")
    assert match_event(e, {"image": ["busybox"]}) and match_event(e, {"image": ["busybox:latest"]})
    assert not match_event(e, {"image": ["alpine"]})
    assert match_event(ev("image", "tag", "sha256:1", name="busybox:1"), {"image": ["busybox"]})
    assert strip_tag("localhost:5000/x") == "localhost:5000/x" and strip_tag("a/b:1") == "a/b"


def test_event_exact_except_suffixed_actions():
    assert match_event(ev(action="health_status: healthy"), {"event": ["health_status"]})
    assert match_event(ev(action="exec_start: ls -l"), {"event": ["exec_start", "die"]})
    assert not match_event(ev(action="start"), {"event": ["sta"]})
    assert match_event(ev(action="die"), {"event": ["die", "kill"], "type": ["container"]})
    assert not match_event(ev(action="die"), {"type": ["image"]})


def test_labels_and_keys():
    e = ev(name="web", tier="front")
    assert match_event(e, {"label": ["tier"]}) and match_event(e, {"label": ["tier=front"]})
    assert not match_event(e, {"label": ["tier=back"]})
    assert check_filters({"container": ["x"], "label": ["a"]}) is None
    assert check_filters({"bogus": ["x"]}) == "bogus"
