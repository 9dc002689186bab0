"""``docker logs --details``: the log attributes a json-file line carries, as dockerd prints them.

dockerd's json-file driver stores, with every line, the extra attributes that
the ``labels``/``labels-regex``/``env``/``env-regex`` log options pick from the
container's labels and environment; ``logs --details`` prints them before the
line as ``k=v,k2=v2`` (keys sorted, both sides URL query-escaped) and a space
(a lone space when there are none). The attributes depend only on the
container's config, which cannot change, so they are computed when the logs
are read rather than stored with every line.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any


def extra_attributes(config: dict[str, Any], host_config: dict[str, Any]) -> dict[str, str]:
    """moby's ``logger.Info.ExtraAttributes`` for a container's log options."""
    opts = (host_config.get("LogConfig") or {}).get("Config") or {}
    labels = config.get("Labels") or {}
    env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
    out: dict[str, str] = {}
    for source, names_key, regex_key in ((labels, "labels", "labels-regex"), (env, "env", "env-regex")):
        for name in filter(None, (opts.get(names_key) or "").split(",")):
            if name in source:
                out[name] = source[name]
        if opts.get(regex_key):
            pattern = re.compile(opts[regex_key])
            out.update((k, v) for k, v in source.items() if pattern.search(k))
    return out


def details_prefix(attrs: dict[str, str]) -> bytes:
    """``k=v,k2=v2 `` (sorted, query-escaped) before each line of ``logs --details``."""
    quote = urllib.parse.quote_plus
    return (",".join(f"{quote(k)}={quote(v)}" for k, v in sorted(attrs.items())) + " ").encode()


def log_file(c: Any) -> str:
    """Where the monitor writes the container's output: nowhere (``/dev/null``) for ``--log-driver
    none``, whose output dockerd never stores (a user picks it so that it is not kept)."""
    import os

    if ((c.HostConfig.get("LogConfig") or {}).get("Type") or "json-file") == "none":
        return os.devnull
    return str(c.LogPath)
