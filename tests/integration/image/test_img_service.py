"""ImageService and LayerStore on a temporary data root: real tars, real overlay mounts."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.events import EventService
from dockyard.daemon.images import ImageService
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.image.archive import empty_container_config, rfc3339_nano
from dockyard.state.db import Database

@pytest.fixture(autouse=True)
def _root() -> None:
    """dockyard runs as root: a non-root run fails here rather than silently dropping these tests."""
    if os.geteuid() != 0:
        pytest.fail("needs root (overlay mounts): run the suite as root")


def layer_tar(files: dict[str, bytes | None]) -> bytes:
    """A layer: name -> content (None makes a directory)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            if content is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(content), 0o644
                tf.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


class Env:
    def __init__(self, root: str) -> None:
        self.root = root
        self.events = EventService()
        self.open()
        self.rw: list = []

    def open(self) -> None:
        self.db = Database(os.path.join(self.root, "dockyard.db"))
        self.svc = ImageService(DaemonConfig(data_root=self.root), self.db, self.events)

    def reopen(self) -> None:
        self.db.close()
        self.open()

    def multi_layer_image(self, layers: list[bytes], repo: str) -> str:
        """Register a stack of layers and record an image over them (what `docker load` does)."""
        parent = None
        diff_ids = []
        size = 0
        for data in layers:
            layer = self.svc.layers.register(io.BytesIO(data), parent)
            parent = layer.chain_id
            diff_ids.append(layer.diff_id)
            size += layer.size
        now = rfc3339_nano()
        config = json.dumps({"architecture": "amd64", "os": "linux", "created": now,
                             "config": empty_container_config(),
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        img, _ = self.svc.store.add(config, size, now)
        self.svc.tag(img.id, repo)
        return img.id

    def create_rw(self, name: str, image_id: str | None):
        rw = self.svc.layers.create_rw(name, image_id)
        self.rw.append(rw)
        return rw

    def close(self) -> None:
        for rw in self.rw:
            rw.remove()
        self.db.close()


@pytest.fixture
def env(tmp_path):
    e = Env(str(tmp_path / "data"))
    try:
        yield e
    finally:
        e.close()


def overlay_dirs(env: Env) -> list[str]:
    return sorted(d for d in os.listdir(os.path.join(env.root, "overlay2")) if d not in ("l", "empty"))


def test_import_list_inspect_tag_rmi(env, busybox_tar):
    with open(busybox_tar, "rb") as f:
        iid = env.svc.import_image(f, "busybox", ['CMD ["sh"]', "ENV A=1"], "", None)
    assert iid.startswith("sha256:") and len(iid) == 71
    blob = os.path.join(env.root, "image", "blobs", "sha256", iid[7:])
    import hashlib
    assert "sha256:" + hashlib.sha256(open(blob, "rb").read()).hexdigest() == iid  # ID = sha256(config)
    img = env.svc.resolve("busybox")
    assert img.id == iid and img.repo_tags == ["busybox:latest"]
    assert img.config["config"]["Cmd"] == ["sh"] and img.config["config"]["Env"] == ["A=1"]
    assert env.svc.resolve(iid[7:19]).id == iid
    assert env.svc.resolve("sha256:" + iid[7:15]).id == iid
    assert env.svc.resolve(iid).id == iid
    assert env.svc.resolve("docker.io/library/busybox:latest").id == iid
    with pytest.raises(NotFound, match="^No such image: nope:latest$"):
        env.svc.resolve("nope")
    with pytest.raises(InvalidParameter, match="must be lowercase"):
        env.svc.resolve("Nope")

    [summary] = env.svc.list_images()
    assert summary["Id"] == iid and summary["RepoTags"] == ["busybox:latest"] and summary["Size"] > 500_000
    info = env.svc.inspect("busybox")
    assert info["RootFS"]["Layers"] == [hashlib.sha256(open(busybox_tar, "rb").read()).hexdigest().join(
        ["sha256:", ""])]
    assert info["Comment"] == "Imported from -" and info["Os"] == "linux"
    assert os.path.isdir(info["GraphDriver"]["Data"]["UpperDir"])
    assert os.path.exists(os.path.join(info["GraphDriver"]["Data"]["UpperDir"], "bin", "busybox"))

    env.svc.tag("busybox", "localhost:5000/my/box", "v1")
    assert env.svc.resolve("localhost:5000/my/box:v1").repo_tags == ["busybox:latest", "localhost:5000/my/box:v1"]
    assert [i["RepoTags"] for i in env.svc.list_images(filters={"reference": ["localhost:5000/*/*"]})] == \
        [["localhost:5000/my/box:v1"]]
    assert env.svc.list_images(filters={"dangling": ["true"]}) == []

    with pytest.raises(Conflict, match=r"unable to delete [0-9a-f]{12} \(must be forced\) - image is referenced "
                                       r"in multiple repositories"):
        env.svc.delete(iid[7:19])
    assert env.svc.delete("busybox") == [{"Untagged": "busybox:latest"}]
    records = env.svc.delete("localhost:5000/my/box:v1")
    assert records[:2] == [{"Untagged": "localhost:5000/my/box:v1"}, {"Deleted": iid}]
    assert env.svc.count() == 0 and overlay_dirs(env) == []
    assert [e["Action"] for e in env.events.since(0)] == ["import", "tag", "tag", "untag", "untag", "delete"]


def test_corrupt_tarball_changes_nothing(env, busybox_tar):
    data = open(busybox_tar, "rb").read()
    for bad in (data[:len(data) // 2 + 100], b"garbage" * 1000):
        with pytest.raises(InvalidParameter, match=r"Error processing tar file\(exit status 1\): "):
            env.svc.import_image(io.BytesIO(bad), "broken", [], "", None)
    assert env.svc.count() == 0
    assert overlay_dirs(env) == [] and os.listdir(os.path.join(env.root, "overlay2", "l")) == []
    assert os.listdir(os.path.join(env.root, "image", "blobs", "sha256")) == []
    assert env.db.query("SELECT * FROM layers") == [] and env.db.query("SELECT * FROM tags") == []


def test_bad_arguments_fail_before_reading(env):
    class Unreadable:
        def read(self, n=-1):
            raise AssertionError("the body must not be read")

    with pytest.raises(InvalidParameter, match="foo is not a valid change command"):
        env.svc.import_image(Unreadable(), "x", ["FOO bar"], "", None)
    with pytest.raises(InvalidParameter, match="must be lowercase"):
        env.svc.import_image(Unreadable(), "X", [], "", None)


def test_two_images_share_a_layer_unpacked_once(env, busybox_tar):
    ids = []
    for change in ("CMD a", "CMD b"):
        with open(busybox_tar, "rb") as f:
            ids.append(env.svc.import_image(f, f"img-{change[-1]}", [change], "", None))
    assert ids[0] != ids[1]
    assert len(overlay_dirs(env)) == 1
    assert [r["refcount"] for r in env.db.query("SELECT refcount FROM layers")] == [2]
    env.svc.delete("img-a")
    assert len(overlay_dirs(env)) == 1
    env.svc.delete("img-b")
    assert overlay_dirs(env) == []


def test_rw_layer_mount_shows_files_and_unmounts(env, busybox_tar):
    with open(busybox_tar, "rb") as f:
        iid = env.svc.import_image(f, "busybox", [], "", None)
    rw = env.create_rw("dytest-c1", iid)
    assert not os.listdir(rw.merged)
    assert rw.mount() == rw.merged
    assert rw.mount() == rw.merged  # idempotent
    assert os.path.exists(os.path.join(rw.merged, "bin", "busybox"))
    with open(os.path.join(rw.merged, "etc", "new"), "w") as f:
        f.write("hello")
    assert os.path.exists(os.path.join(rw.upper, "etc", "new")) and rw.size_rw() >= 5
    gd = rw.graphdriver_data()
    assert gd["LowerDir"] == rw.lower[0] and gd["UpperDir"] == rw.upper and gd["MergedDir"] == rw.merged
    again = env.svc.layers.get_rw("dytest-c1")
    assert again.lower == rw.lower
    rw.unmount()
    rw.unmount()  # idempotent
    assert not os.path.exists(os.path.join(rw.merged, "bin"))
    with pytest.raises(NotFound):
        env.svc.layers.get_rw("dytest-missing")
    rw.remove()
    assert not os.path.exists(os.path.join(env.root, "overlay2", "dytest-c1"))


def test_whiteouts_hide_lower_files_in_merged_view(env):
    base = layer_tar({"etc": None, "etc/a": b"a", "etc/b": b"b", "opq": None, "opq/old": b"old"})
    top = layer_tar({"etc/.wh.a": b"", "opq": None, "opq/.wh..wh..opq": b"", "opq/new": b"new"})
    iid = env.multi_layer_image([base, top], "wh")
    rw = env.create_rw("dytest-wh", iid)
    merged = rw.mount()
    assert sorted(os.listdir(os.path.join(merged, "etc"))) == ["b"]
    assert sorted(os.listdir(os.path.join(merged, "opq"))) == ["new"]
    assert len(rw.lower) == 2


def test_image_without_layers_and_no_image(env):
    iid = env.multi_layer_image([], "nolayers")
    for name, image in (("dytest-e1", iid), ("dytest-e2", None)):
        rw = env.create_rw(name, image)
        merged = rw.mount()
        with open(os.path.join(merged, "x"), "w") as f:
            f.write("y")
        assert os.listdir(rw.upper) == ["x"]
        rw.unmount()
    assert os.listdir(os.path.join(env.root, "overlay2", "empty")) == []


@pytest.mark.parametrize("count", [35, 70])
def test_many_layers_mount(env, count):
    layers = [layer_tar({f"f{i}": str(i).encode(), "shared": str(i).encode()}) for i in range(count)]
    iid = env.multi_layer_image(layers, f"many{count}")
    rw = env.create_rw(f"dytest-many{count}", iid)
    merged = rw.mount()
    assert open(os.path.join(merged, "f0")).read() == "0"
    assert open(os.path.join(merged, f"f{count - 1}")).read() == str(count - 1)
    assert open(os.path.join(merged, "shared")).read() == str(count - 1)  # topmost wins
    rw.unmount()


def test_rmi_conflicts_with_containers(env, busybox_tar):
    with open(busybox_tar, "rb") as f:
        iid = env.svc.import_image(f, "busybox", [], "", None)
    short = iid[7:19]
    users = [("c" * 64, False)]
    env.svc.set_container_lookup(lambda image_id: users if image_id == iid else [])
    with pytest.raises(Conflict) as exc:
        env.svc.delete(short)
    assert str(exc.value) == (f"conflict: unable to delete {short} (must be forced) - "
                              f"image is being used by stopped container cccccccccccc")
    with pytest.raises(Conflict, match="must force"):
        env.svc.delete("busybox")
    users[0] = ("d" * 64, True)
    with pytest.raises(Conflict) as exc:
        env.svc.delete(short, force=True)
    assert str(exc.value) == (f"conflict: unable to delete {short} (cannot be forced) - "
                              f"image is being used by running container dddddddddddd")
    # a forced untag of a used image keeps the image for its container
    assert env.svc.delete("busybox", force=True) == [{"Untagged": "busybox:latest"}]
    assert env.svc.resolve(iid).repo_tags == []
    users[0] = ("c" * 64, False)
    assert env.svc.delete(short, force=True)[0] == {"Deleted": iid}


def test_records_survive_restart_and_crash_leftovers_are_collected(env, busybox_tar):
    with open(busybox_tar, "rb") as f:
        iid = env.svc.import_image(f, "busybox", [], "", None)
    o2 = os.path.join(env.root, "overlay2")
    os.makedirs(os.path.join(o2, "tmp-deadbeef", "diff"))            # a crash mid-unpack
    os.makedirs(os.path.join(o2, "f" * 64, "diff"))                  # a crash after rename, before commit
    open(os.path.join(o2, "f" * 64, "link"), "w").write("ZZZ")
    with env.db.tx() as cur:                                         # a crash between register and image add
        cur.execute("INSERT INTO layers VALUES ('sha256:x','sha256:x',NULL,'nocache',0,0)")
    env.reopen()
    assert env.svc.resolve("busybox").id == iid
    assert overlay_dirs(env) == [env.svc.layers.get(env.svc.resolve(iid).chain[0]).cache_id]
    assert [r["chain_id"] for r in env.db.query("SELECT chain_id FROM layers")] == env.svc.resolve(iid).chain


def test_prune_dangling(env, busybox_tar):
    with open(busybox_tar, "rb") as f:
        keep = env.svc.import_image(f, "keep", [], "", None)
    with open(busybox_tar, "rb") as f:
        dangling = env.svc.import_image(f, None, ["CMD x"], "", None)
    out = env.svc.prune({})
    assert out["ImagesDeleted"] == [{"Deleted": dangling}]
    assert env.svc.resolve(keep)
    out = env.svc.prune({"dangling": ["false"]})
    assert {"Deleted": keep} in out["ImagesDeleted"] and out["SpaceReclaimed"] > 0
    assert env.svc.count() == 0 and overlay_dirs(env) == []


def test_layer_tar_is_reproduced_byte_for_byte(env, busybox_tar):
    original = open(busybox_tar, "rb").read()
    with open(busybox_tar, "rb") as f:
        iid = env.svc.import_image(f, "busybox", [], "", None)
    size, reader = env.svc.layers.tar_stream(env.svc.resolve(iid).chain[0])
    assert size == len(original) and reader.read() == original
    big = layer_tar({"d": None, "d/big": os.urandom(3_000_000), "d/.wh.x": b"", "small": b"s"})
    layer = env.svc.layers.register(io.BytesIO(big), None)
    size, reader = env.svc.layers.tar_stream(layer.chain_id)
    assert size == len(big) and reader.read() == big


def test_save_then_load_into_another_store(env, busybox_tar, tmp_path):
    with open(busybox_tar, "rb") as f:
        iid = env.svc.import_image(f, "busybox", ["CMD sh"], "", None)
    env.svc.tag(iid, "busybox", "2")
    chunks: list[bytes] = []
    env.svc.save(env.svc.save_plan(["busybox"]), chunks.append)
    archive = b"".join(chunks)
    other = Env(str(tmp_path / "other"))
    try:
        assert sorted(other.svc.load(io.BytesIO(archive))) == ["busybox:2", "busybox:latest"]
        assert other.svc.resolve("busybox:2").id == iid
        # a layer that does not match the config's DiffID is refused and leaves nothing
        with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
            members = {m.name: tf.extractfile(m).read() if m.isfile() else None for m in tf}
        manifest = json.loads(members["manifest.json"])
        members[manifest[0]["Layers"][0]] = layer_tar({"evil": b"x"})
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for n, data in members.items():
                ti = tarfile.TarInfo(n)
                if data is None:
                    ti.type = tarfile.DIRTYPE
                    tf.addfile(ti)
                else:
                    ti.size = len(data)
                    tf.addfile(ti, io.BytesIO(data))
        third = Env(str(tmp_path / "third"))
        try:
            with pytest.raises(InvalidParameter, match="invalid diffID for layer 0"):
                third.svc.load(io.BytesIO(buf.getvalue()))
            assert third.svc.count() == 0 and overlay_dirs(third) == []
            assert os.listdir(os.path.join(third.root, "image", "tmp")) == []
        finally:
            third.close()
    finally:
        other.close()


def test_rw_layer_keeps_the_image_layers_alive(env, busybox_tar):
    with open(busybox_tar, "rb") as f:
        iid = env.svc.import_image(f, "busybox", [], "", None)
    rw = env.create_rw("dytest-keep", iid)
    assert env.svc.layers.rw_names() == ["dytest-keep"]
    records = env.svc.delete(iid, force=True)
    assert records[-1] == {"Deleted": iid}  # the image goes, its layer stays for the container
    assert len(overlay_dirs(env)) == 2  # the layer and the RW layer
    merged = rw.mount()
    assert os.path.exists(os.path.join(merged, "bin", "busybox"))
    rw.remove()
    rw.remove()  # idempotent: references are dropped once
    assert overlay_dirs(env) == [] and env.db.query("SELECT * FROM layers") == []
    assert env.svc.layers.rw_names() == []
    with pytest.raises(NotFound):
        env.svc.layers.create_rw("dytest-gone", iid)
    assert not os.path.exists(os.path.join(env.root, "overlay2", "dytest-gone"))


def test_list_filters_before_since_label_dangling(env):
    data = layer_tar({"f": b"x"})
    first = env.svc.import_image(io.BytesIO(data), "first", ["LABEL k=1"], "", None)
    second = env.svc.import_image(io.BytesIO(data), "second", ["LABEL k=2", "LABEL other=x"], "", None)
    third = env.svc.import_image(io.BytesIO(data), None, ["CMD third"], "", None)

    def ids(**filters):
        return [i["Id"] for i in env.svc.list_images(filters={k: v for k, v in filters.items()})]

    assert ids() == [third, second, first]  # newest first
    assert ids(before=["second"]) == [first]
    assert ids(since=["first"]) == [third, second]
    assert ids(label=["k"]) == [second, first]
    assert ids(label=["k=2"]) == [second]
    assert ids(label=["k=1", "other"]) == []
    assert ids(dangling=["true"]) == [third]
    assert ids(dangling=["false"]) == [second, first]
    assert ids(reference=["fir*"]) == [first]
    with pytest.raises(InvalidParameter, match="invalid filter 'nope'"):
        env.svc.list_images(filters={"nope": ["1"]})
    with pytest.raises(NotFound):
        env.svc.list_images(filters={"before": ["missing"]})
    hist = env.svc.history("second")
    assert hist[0]["Id"] == second and hist[0]["Tags"] == ["second:latest"] and hist[0]["Size"] == 1


def test_concurrent_imports_share_one_layer(env, busybox_tar):
    import threading

    data = open(busybox_tar, "rb").read()
    ids: list[str] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            ids.append(env.svc.import_image(io.BytesIO(data), f"conc{i}", [f"CMD c{i}"], "", None))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(ids)) == 4
    assert len(overlay_dirs(env)) == 1
    assert [r["refcount"] for r in env.db.query("SELECT refcount FROM layers")] == [4]
    assert not [d for d in os.listdir(os.path.join(env.root, "overlay2")) if d.startswith("tmp-")]
