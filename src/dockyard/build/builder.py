"""The classic builder: a parsed Dockerfile, step by step, into images.

Each instruction of each needed stage is one step that makes one image on top
of the last (dockerd's classic builder, ``DOCKER_BUILDKIT=0``): config-only
instructions commit a config change, RUN runs a container through the daemon's
container service (same security defaults as ``docker run``) and commits its
changes, COPY/ADD copy into a fresh layer.  Before a step runs the cache is
asked for an image made from the same parent by the same step.

The builder talks to the daemon only through :class:`BuildBackend`, and to the
client only through ``emit`` (the JSON messages dockerd writes), so the
stage/step logic has no HTTP or store code in it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockyard import errors
from dockyard.build import instructions as inst
from dockyard.build.context import Context
from dockyard.build.dockerfile import Dockerfile, Instruction, Stage, parse
from dockyard.build.shell import env_map, process_word
from dockyard.spec.bundle import DEFAULT_PATH

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
CONFIG_ONLY = ("ENV", "LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL",
               "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER", "ARG")

Emit = Callable[[dict[str, Any]], Awaitable[None]]


class StepFailed(errors.DockyardError):
    """A RUN returned non-zero: dockerd's message, and the code in errorDetail."""

    status = 500

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class BuildBackend(Protocol):
    """What the builder needs from the daemon (implemented by ``daemon/build.py``)."""

    def image(self, ref: str) -> tuple[str, dict[str, Any]]: ...
    def has_image(self, ref: str) -> bool: ...
    async def fetch(self, url: str, dest: str) -> str: ...
    async def pull(self, ref: str) -> list[dict[str, Any]]: ...
    async def run(self, image_id: str, config: dict[str, Any],
                  output: Callable[[int, bytes], Awaitable[None]],
                  started: Callable[[str], Awaitable[None]], volumes: list[str]) -> tuple[str, int]: ...
    async def remove_container(self, cid: str) -> None: ...
    async def drop_layer(self, name: str) -> None: ...
    async def with_layer(self, image_id: str, work: Callable[[str, dict[str, str]], None],
                         sources: tuple[str, ...] = ()) -> str: ...
    async def commit(self, rw_name: str | None, parent: str, config: dict[str, Any], created_by: str,
                     author: str = "", discard: list[str] | None = None, keep_init_files: bool = False) -> str: ...
    def cache_get(self, key: str) -> str | None: ...
    def cache_put(self, key: str, image_id: str) -> None: ...
    def cache_from(self, images: list[str], parent: str, created_by: str, config: dict[str, Any]) -> str | None: ...
    def new_id(self) -> str: ...


@dataclass
class BuildOptions:
    """The query parameters of ``POST /build`` that shape the steps."""

    dockerfile: str = "Dockerfile"
    buildargs: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    nocache: bool = False
    pull: bool = False
    rm: bool = True
    forcerm: bool = False
    quiet: bool = False
    cache_from: list[str] = field(default_factory=list)


@dataclass
class StageState:
    image_id: str
    config: dict[str, Any]
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage
    extra: dict[str, Any] = field(default_factory=lambda: {"shell": list(inst.DEFAULT_SHELL), "cmd_set": False})


def _literal(text: str) -> str:
    """``text`` quoted so that word processing gives it back unchanged (no ``$`` expansion)."""
    return "'" + text.replace("'", "'\\''") + "'"


def _with_image(config: dict[str, Any], parent: str) -> dict[str, Any]:
    """The config a step commits: ``Image`` names the step's parent image, as dockerd's classic builder
    writes it (kept out of the stage's running config, so that cache keys do not depend on it)."""
    return {**config, "Image": parent}


def _without_image(config: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    out.pop("Image", None)
    return out


def short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


class Builder:
    """One build: ``run()`` returns the final image ID."""

    def __init__(self, backend: BuildBackend, ctx: Context, opts: BuildOptions, emit: Emit) -> None:
        self.b = backend
        self.ctx = ctx
        self.opts = opts
        self._emit = emit
        self.consumed: set[str] = set()
        self.stage_images: dict[int, str] = {}
        self.step = 0
        self.total = 0
        self._paths: list[str] | None = None
        self._cleanups: list[asyncio.Task[None]] = []
        self._quiet_ids = False  # ONBUILD triggers: dockerd prints no " ---> <id>" per trigger

    def later(self, work: Awaitable[None]) -> None:
        """Remove a finished step's container or layer while the next step runs.

        ``run`` waits for all of them before it returns (or fails), so a build
        that reports success has left nothing behind.
        """
        self._cleanups.append(asyncio.ensure_future(work))

    async def _finish_cleanups(self) -> None:
        if self._cleanups:
            await asyncio.shield(asyncio.gather(*self._cleanups, return_exceptions=True))

    async def out(self, text: str) -> None:
        await self._emit({"stream": text})

    # -- planning -------------------------------------------------------------------------
    def read_dockerfile(self, text: str) -> Dockerfile:
        return parse(text, self.opts.dockerfile)

    def needed_stages(self, df: Dockerfile, target: int) -> list[int]:
        """The target and the stages it reads from (FROM stage, COPY --from=stage), in order."""
        need: set[int] = set()
        todo = [target]
        while todo:
            i = todo.pop()
            if i in need:
                continue
            need.add(i)
            stage = df.stages[i]
            dep = df.stage_index(stage.base)
            if dep is not None and dep < i:
                todo.append(dep)
            for ins in stage.instructions:
                src = ins.flag("from") if ins.cmd in ("COPY", "ADD") else None
                if src is None:
                    continue
                if "$" in src:  # COPY --from=${STAGE}: known only when the step runs; every earlier stage
                    todo.extend(range(i))
                    continue
                dep = df.stage_index(src)
                if dep is None and src.isdigit() and int(src) < i:
                    dep = int(src)
                if dep is not None:
                    todo.append(dep)
        return sorted(need)

    def meta_env(self, df: Dockerfile) -> dict[str, str]:
        env: dict[str, str] = {}
        for ins in df.meta_args:
            for name, default in self._arg_pairs(ins, env, df.escape):
                self.consumed.add(name)
                if name in self.opts.buildargs and self.opts.buildargs[name] is not None:
                    env[name] = self.opts.buildargs[name]  # type: ignore[assignment]
                elif default is not None:
                    env[name] = default
        return env

    @staticmethod
    def _arg_pairs(ins: Instruction, env: dict[str, str], escape: str) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for a in ins.args:
            name, eq, default = a.partition("=")
            out.append((name, process_word(default, env, escape) if eq else None))
        return out

    # -- the build ------------------------------------------------------------------------
    async def run(self, dockerfile_text: str) -> str:
        try:
            return await self._run(dockerfile_text)
        finally:
            await self._finish_cleanups()

    async def _run(self, dockerfile_text: str) -> str:
        df = self.read_dockerfile(dockerfile_text)
        target = len(df.stages) - 1
        if self.opts.target:
            found = df.stage_index(self.opts.target)
            if found is None:
                raise errors.InvalidParameter(f"failed to reach build target {self.opts.target} in Dockerfile")
            target = found
        for k, v in sorted(self.opts.labels.items()):  # dockerd: one LABEL step per --label, literal
            df.stages[target].instructions.append(
                Instruction("LABEL", f"LABEL {k}={v}", 0, (), (_literal(k), _literal(v))))
        stages = self.needed_stages(df, target)
        # an ARG of a stage the target does not need still counts as consumed (no warning for it)
        self.consumed.update(a.partition("=")[0] for s in df.stages for ins in s.instructions
                             if ins.cmd == "ARG" for a in ins.args)
        self.total = len(df.meta_args) + sum(1 + len(df.stages[i].instructions) for i in stages)
        meta = self.meta_env(df)
        for ins in df.meta_args:
            await self._step_line(ins)
        for i in stages:
            await self.run_stage(df, df.stages[i], meta)
        image_id = self.stage_images[target]
        return image_id

    def unused_args(self) -> list[str]:
        return sorted(k for k in self.opts.buildargs if k not in self.consumed and k not in PROXY_ARGS)

    async def _step_line(self, ins: Instruction) -> None:
        self.step += 1
        await self.out(f"Step {self.step}/{self.total} : {ins.original}")
        await self.out("\n")

    async def run_stage(self, df: Dockerfile, stage: Stage, meta: dict[str, str]) -> None:
        await self._step_line(stage.from_instruction)
        base = process_word(stage.base, meta, df.escape)
        if stage.platform:
            plat = process_word(stage.platform, meta, df.escape)
            if plat not in ("linux/amd64", "linux"):
                raise errors.InvalidParameter(f"FROM --platform={plat}: only linux/amd64 images can be built here")
        dep = df.stage_index(base)
        if dep is not None and dep < stage.index:
            image_id = self.stage_images[dep]
            config = self.b.image(image_id)[1].get("config") or {}
        elif base.lower() == "scratch":
            image_id, config = "", {}
        else:
            if self.opts.pull or not self.b.has_image(base):
                await self._pull(base)
            image_id, full = self.b.image(base)
            config = full.get("config") or {}
        st = StageState(image_id, _without_image(config))
        if "PATH" not in env_map(st.config.get("Env") or []):  # dockerd's setDefaultPath at each stage's start
            st.config["Env"] = list(st.config.get("Env") or []) + [f"PATH={DEFAULT_PATH}"]
        if config.get("Shell"):
            st.extra["shell"] = list(config["Shell"])
        triggers = list(config.get("OnBuild") or [])
        st.config["OnBuild"] = None
        if triggers:  # dockerd: no " ---> <base>" line then, one " ---> <id>" after all triggers
            await self.run_triggers(df, st, triggers)
            await self.out(f" ---> {short(st.image_id)}\n")
        else:
            await self.out(f" ---> {short(image_id)}\n")
        for ins in stage.instructions:
            await self._step_line(ins)
            await self.dispatch(df, st, ins, meta)
        self.stage_images[stage.index] = st.image_id
        if st.image_id:
            await self._emit({"aux": {"ID": st.image_id}})  # dockerd: one per stage

    async def _pull(self, ref: str) -> None:
        """FROM (or COPY --from) of an image that is not here: pulled, its progress in the stream."""
        for message in await self.b.pull(ref):
            await self._emit(message)

    async def run_triggers(self, df: Dockerfile, st: StageState, triggers: list[str]) -> None:
        await self.out(f"# Executing {len(triggers)} build trigger")
        if len(triggers) > 1:
            await self.out("s")
        await self.out("\n")
        self._quiet_ids = True
        try:
            for text in triggers:
                sub = parse("FROM scratch\n" + text).stages[0].instructions
                for ins in sub:
                    await self.dispatch(df, st, ins, {})
        finally:
            self._quiet_ids = False

    # -- steps -------------------------------------------------------------------------------
    def env_for(self, st: StageState) -> dict[str, str]:
        """The substitution environment: the stage's ARGs, overridden by its ENV."""
        env = {k: v for k, v in st.args.items() if v is not None}
        env.update(env_map(st.config.get("Env") or []))
        return env

    def run_env(self, st: StageState) -> list[str]:
        """ENV plus the ARGs (and given proxy args) a RUN sees."""
        env = list(st.config.get("Env") or [])
        have = {e.partition("=")[0] for e in env}
        for k, v in list(st.args.items()) + [(p, self.opts.buildargs.get(p)) for p in PROXY_ARGS
                                              if p in self.opts.buildargs and p not in st.args]:
            if v is not None and k not in have:
                env.append(f"{k}={v}")
        return env

    def arg_prefix(self, st: StageState) -> str:
        """``|2 A=1 B=2 `` before a RUN's command in history, as dockerd writes it."""
        # an ARG that an ENV of the same name hides is not in the text (dockerd's FilterAllowed)
        env = {e.partition("=")[0] for e in st.config.get("Env") or []}
        pairs = sorted(f"{k}={v}" for k, v in st.args.items() if v is not None and k not in env)
        if pairs:
            return f"|{len(pairs)} {' '.join(pairs)} "
        # a proxy arg given but not declared: in the RUN's env, not in the text, yet dockerd writes "|0 "
        return "|0 " if any(self.opts.buildargs.get(p) is not None for p in PROXY_ARGS) else ""

    async def dispatch(self, df: Dockerfile, st: StageState, ins: Instruction, meta: dict[str, str]) -> None:
        env = self.env_for(st)
        if ins.cmd == "ARG":
            pairs = self._arg_pairs(ins, env, df.escape)
            for name, default in pairs:
                self.consumed.add(name)
                given = self.opts.buildargs.get(name)
                if given is not None:
                    st.args[name] = given
                elif default is not None:
                    st.args[name] = default
                else:
                    st.args[name] = meta.get(name)
            text = "ARG " + " ".join(n if d is None else f"{n}={d}" for n, d in pairs)
            await self.config_step(st, st.config, ins, " ".join([*st.extra["shell"], "#(nop) ", text]))
        elif ins.cmd in CONFIG_ONLY:
            old = (st.config.get("Healthcheck") or {}).get("Test") or []
            if ins.cmd == "HEALTHCHECK" and old and old[0] != "NONE":  # dockerd's note (Go's %v of the list)
                await self.out(f"Note: overriding previous HEALTHCHECK: [{' '.join(old)}]\n")
            config = inst.apply(st.config, ins, env, df.escape, st.extra)
            await self.config_step(st, config, ins, inst.history_text(ins, config, env, df.escape, st.extra["shell"]))
        elif ins.cmd == "RUN":
            await self.run_step(st, ins)
        elif ins.cmd in ("COPY", "ADD"):
            await self.copy_step(df, st, ins, env)
        elif ins.cmd == "WORKDIR":
            await self.workdir_step(df, st, ins, env)
        else:
            raise errors.InvalidParameter(f"unknown instruction: {ins.cmd}")

    def _key(self, st: StageState, created_by: str, config: dict[str, Any], extra: str = "") -> str:
        text = json.dumps([st.image_id, created_by, config, extra], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    async def _cached(self, st: StageState, key: str, created_by: str, config: dict[str, Any]) -> bool:
        if self.opts.nocache:
            return False
        if self.opts.cache_from:
            # dockerd's rule: with --cache-from, only those images (and their parents) are a
            # cache; a local build of the same steps that they do not descend from is not
            hit = self.b.cache_from(self.opts.cache_from, st.image_id, created_by, _with_image(config, st.image_id))
        else:
            hit = self.b.cache_get(key)
        if hit is None:
            return False
        await self.out(" ---> Using cache\n")
        if not self._quiet_ids:
            await self.out(f" ---> {short(hit)}\n")
        st.image_id = hit
        st.config = _without_image(self.b.image(hit)[1].get("config") or {})
        st.config["OnBuild"] = st.config.get("OnBuild") or None
        return True

    async def _done(self, st: StageState, key: str, image_id: str, config: dict[str, Any]) -> None:
        self.b.cache_put(key, image_id)
        st.image_id = image_id
        st.config = config
        if not self._quiet_ids:
            await self.out(f" ---> {short(image_id)}\n")

    async def config_step(self, st: StageState, config: dict[str, Any], ins: Instruction, created_by: str) -> None:
        key = self._key(st, created_by, config)
        if await self._cached(st, key, created_by, config):
            return
        # dockerd commits these from a container it never starts; the step commits the config alone
        cid = self.b.new_id()
        await self.out(f" ---> Running in {cid[:12]}\n")
        image_id = await self.b.commit(None, st.image_id, _with_image(config, st.image_id), created_by,
                                       st.extra.get("author", ""))
        if self.opts.rm or self.opts.forcerm:
            await self.out(f"Removing intermediate container {cid[:12]}\n")
        await self._done(st, key, image_id, config)

    async def run_step(self, st: StageState, ins: Instruction) -> None:
        if ins.heredocs:
            argv = self._heredoc_argv(st, ins)
        else:
            argv = inst.command_form(ins, st.extra["shell"])
        created_by = self.arg_prefix(st) + " ".join(argv)
        run_config = copy.deepcopy(st.config)
        # no healthcheck probes in a build step (the image keeps its HEALTHCHECK)
        run_config.update({"Cmd": argv, "Entrypoint": [], "Env": self.run_env(st), "Healthcheck": {"Test": ["NONE"]}})
        # VOLUME paths: dockerd mounts anonymous volumes there, so a RUN's changes below them are
        # not in the image; we run without them and leave those changes out of the commit
        volumes = sorted(run_config.pop("Volumes", None) or {})
        key = self._key(st, created_by, run_config)
        if await self._cached(st, key, created_by, st.config):
            return
        cid = ""

        async def started(container_id: str) -> None:
            nonlocal cid
            cid = container_id
            await self.out(f" ---> Running in {container_id[:12]}\n")

        async def output(stream: int, data: bytes) -> None:
            text = data.decode("utf-8", "replace")
            await self.out(text if stream != 2 else f"\x1b[91m{text}\x1b[0m")

        ok = False
        try:
            cid, code = await self.b.run(st.image_id, run_config, output, started, volumes)
            if code != 0:
                shown = " ".join(argv)
                raise StepFailed(f"The command '{shown}' returned a non-zero code: {code}", code)
            image_id = await self.b.commit(cid, st.image_id, _with_image(st.config, st.image_id), created_by,
                                           st.extra.get("author", ""),
                                           discard=volumes)
            ok = True
        finally:
            if cid and ((ok and self.opts.rm) or self.opts.forcerm):
                if ok:
                    self.later(self.b.remove_container(cid))
                else:
                    await self.b.remove_container(cid)
                if ok:
                    await self.out(f"Removing intermediate container {cid[:12]}\n")
        await self._done(st, key, image_id, st.config)

    def _heredoc_argv(self, st: StageState, ins: Instruction) -> list[str]:
        """``RUN <<EOF`` as BuildKit runs it: the heredoc body is the script of the shell."""
        (name, content), *rest = ins.heredocs
        first = ins.args[0] if ins.args else ""
        head = first.split("\n", 1)[0].strip()
        if head in (f"<<{name}", f"<<-{name}", f"<<'{name}'", f'<<"{name}"') and not rest:
            return list(st.extra["shell"]) + [content]
        # the heredoc feeds a command's stdin: let the shell read the whole text
        text = first
        for n, c in ins.heredocs:
            text += f"\n{c}{n}"
        return list(st.extra["shell"]) + [text]

    async def _layer_step(self, st: StageState, ins: Instruction, config: dict[str, Any], created_by: str,
                          extra: str, work: Callable[[str, dict[str, str]], None],
                          sources: tuple[str, ...] = (), container_lines: bool = False,
                          describe: Callable[[], str] | None = None) -> None:
        """One step that writes a layer; ``describe`` (if given) gives the history text once ``work`` ran."""
        key = self._key(st, created_by, config, extra)
        if await self._cached(st, key, created_by, config):
            return
        rw = await self.b.with_layer(st.image_id, work, sources)
        if container_lines:  # WORKDIR: dockerd makes the directory in a container it does not start
            await self.out(f" ---> Running in {rw[len(rw) - 64:][:12]}\n")
        try:
            # no container ran on this layer: a COPY to /etc/hosts stays in the image (dockerd)
            image_id = await self.b.commit(rw, st.image_id, _with_image(config, st.image_id),
                                           describe() if describe else created_by,
                                           st.extra.get("author", ""), keep_init_files=True)
        except BaseException:
            await self.b.drop_layer(rw)
            raise
        self.later(self.b.drop_layer(rw))
        if container_lines and (self.opts.rm or self.opts.forcerm):
            await self.out(f"Removing intermediate container {rw[len(rw) - 64:][:12]}\n")
        await self._done(st, key, image_id, config)

    async def workdir_step(self, df: Dockerfile, st: StageState, ins: Instruction, env: dict[str, str]) -> None:
        from dockyard.build.copy import Copier

        config = inst.apply(st.config, ins, env, df.escape, st.extra)
        wd = config["WorkingDir"]

        def work(rootfs: str, roots: dict[str, str]) -> None:
            copier = Copier(rootfs, None, None)
            bad = copier.first_non_dir(wd)
            if bad is not None:  # dockerd's words (it names its host path where we name the image's)
                raise errors.InvalidParameter(f"Cannot mkdir: {wd} is not a directory" if bad == wd else
                                              f"lstat {wd}: not a directory")
            copier.mkdirs(wd)

        await self._layer_step(st, ins, config, inst.history_text(ins, config, env, df.escape, st.extra["shell"]), "",
                               work, container_lines=True)

    async def copy_step(self, df: Dockerfile, st: StageState, ins: Instruction, env: dict[str, str]) -> None:
        from dockyard.build import copy as cp
        from dockyard.build.shell import process_word as pw

        ins.check_flags(("from", "chown", "chmod", "link") if ins.cmd == "COPY" else ("chown", "chmod", "link"))
        if ins.flag("link") not in (None, "false"):
            raise errors.InvalidParameter(f"{ins.cmd} --link is not supported by the classic builder")
        words = [pw(a, env, df.escape) for a in ins.args]
        srcs, dest = words[:-1], words[-1]
        shown_dest = dest  # history shows the destination as written (expanded), not resolved
        extra_sources = await self._extra_sources(ins, srcs)
        srcs = [s for s in srcs if not (s.startswith("<<") or s.startswith(("http://", "https://")))]
        if not dest.startswith("/"):
            wd = st.config.get("WorkingDir") or "/"
            dest = posixpath.join(wd, dest) + ("/" if dest.endswith("/") or dest in (".", "./") else "")
        chmod = cp.parse_chmod(ins.flag("chmod"))
        chown = ins.flag("chown")
        chown = pw(chown, env, df.escape) if chown else chown
        from_ref = ins.flag("from")
        cmd = ins.cmd
        if from_ref is None:
            sources = cp.resolve_sources(self.ctx.root, srcs, cmd, from_context=True,
                                         all_paths=self._all_paths()) if srcs else []
            digest = hashlib.sha256("\n".join([f"{s.rel}:{self.ctx.hash_tree(s.rel)}" for s in sources] +
                                              [f"{s.rel}:{h}" for s, h in extra_sources]).encode()).hexdigest()
            sources += [s for s, _ in extra_sources]
            origin = "context"
        else:
            src_image = await self._from_image(df, from_ref, env)
            sources = []
            digest = hashlib.sha256(f"{src_image}:{srcs}".encode()).hexdigest()
            origin = src_image
        count = len(sources) if from_ref is None else len(srcs)
        kind = "multi" if count > 1 else "dir" if sources and os.path.isdir(sources[0].path) else "file"
        # dockerd: "<shell> #(nop) COPY --chown=u:gfile:<hash> in /dest " (no space after the chown)
        chown_text = f"--chown={chown}" if chown else ""
        shell = list(st.extra["shell"])

        def text_of(what: str) -> str:
            return " ".join([*shell, f"#(nop) {cmd} {chown_text}{what}:{digest} in {shown_dest} "])

        created_by = text_of(kind)
        extra = json.dumps([origin, digest, chown, chmod, dest])

        found = {"kind": kind}

        def work(rootfs: str, roots: dict[str, str]) -> None:
            owner = cp.lookup_owner(rootfs, chown) if chown else None
            copier = cp.Copier(rootfs, owner, chmod)
            if from_ref is None:
                copier.copy(sources, dest, cmd, add=cmd == "ADD")
            else:
                picked = cp.resolve_sources(roots[origin], srcs, cmd, from_context=False)
                # what dockerd's history says of the sources: known only once the stage's files are at hand
                found["kind"] = "multi" if len(picked) > 1 else "dir" if picked and os.path.isdir(
                    picked[0].path) else "file"
                copier.copy(picked, dest, cmd)

        await self._layer_step(st, ins, st.config, created_by, extra, work,
                               (origin,) if from_ref is not None else (),
                               describe=lambda: text_of(found["kind"]))

    async def _extra_sources(self, ins: Instruction, srcs: list[str]) -> list[tuple[Any, str]]:
        """Heredoc sources (``COPY <<EOF /f``) and ADD's URLs, as files of their own with content hashes."""
        from dockyard.build.copy import Source

        out: list[tuple[Any, str]] = []
        docs = dict(ins.heredocs)
        for i, s in enumerate(srcs):
            if s.startswith("<<"):
                name = s.lstrip("<-").strip("'\"")
                if name not in docs:
                    raise errors.InvalidParameter(f"{ins.cmd}: no heredoc named {name}")
                path = os.path.join(self.ctx.extra_dir(), f"h{self.step}-{i}", name)
                os.makedirs(os.path.dirname(path))
                with open(path, "w", encoding="utf-8") as f:
                    f.write(docs[name])
                os.chmod(path, 0o644)
                out.append((Source(name, path), hashlib.sha256(docs[name].encode()).hexdigest()))
            elif s.startswith(("http://", "https://")):
                if ins.cmd != "ADD":
                    raise errors.InvalidParameter("source can't be a URL for COPY")
                name = posixpath.basename(s.split("?", 1)[0].rstrip("/")) or "download"
                path = os.path.join(self.ctx.extra_dir(), f"u{self.step}-{i}", name)
                os.makedirs(os.path.dirname(path))
                digest = await self.b.fetch(s, path)
                out.append((Source(name, path, remote=True), digest))
        return out

    def _all_paths(self) -> list[str]:
        if self._paths is None:
            self._paths = sorted(self.ctx.hashes)
        return self._paths

    async def _from_image(self, df: Dockerfile, ref: str, env: dict[str, str]) -> str:
        ref = process_word(ref, env, df.escape)
        idx = df.stage_index(ref)
        if idx is None and ref.isdigit():
            idx = int(ref)
        if idx is not None:
            if idx not in self.stage_images:
                raise errors.InvalidParameter(f"invalid from flag value {ref}: refers to a stage not built before")
            return self.stage_images[idx]
        try:
            if not self.b.has_image(ref):
                await self._pull(ref)
            return self.b.image(ref)[0]
        except errors.NotFound as exc:
            raise errors.NotFound(f"invalid from flag value {ref}: {exc.message}") from None
