"""A container's /etc/hosts and /etc/resolv.conf, as Docker writes them (sans-I/O)."""

from __future__ import annotations

DEFAULT_HOSTS = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""

FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"]


def extra_host_lines(extra_hosts: list[str], host_gateway: str) -> list[tuple[str, str]]:
    """``--add-host name:ip`` (or ``name=ip``, ``host-gateway``) → (ip, name) pairs."""
    out = []
    for entry in extra_hosts:
        if "=" in entry and (":" not in entry or entry.index("=") < entry.index(":")):
            name, _, ip = entry.partition("=")
        else:
            name, _, ip = entry.partition(":")
        if ip == "host-gateway":
            ip = host_gateway
        if name and ip:
            out.append((ip, name))
    return out


def hosts_file(base: str, extra: list[tuple[str, str]], links: list[tuple[str, list[str]]],
               own: list[tuple[str, list[str]]]) -> str:
    """Docker's order: the defaults, --add-host entries, linked containers, the container's own names."""
    lines = [base.rstrip("\n")] if base else []
    lines += [f"{ip}\t{name}" for ip, name in extra]
    lines += [f"{ip}\t{' '.join(names)}" for ip, names in links]
    lines += [f"{ip}\t{' '.join(names)}" for ip, names in own]
    return "\n".join(lines) + "\n"


def resolv_conf(host: str, nameservers: list[str] | None, search: list[str] | None,
                options: list[str] | None, embedded: str | None = None) -> str:
    """The container's resolv.conf from the host's, with --dns/--dns-search/--dns-option on top.

    ``embedded`` is the network's DNS server (aardvark on the gateway) for user networks:
    as Docker's 127.0.0.11 it is the only one, answers container names and forwards the
    rest to ``nameservers`` (aardvark is told them), or to the host's resolvers without.
    Loopback resolvers of the host are unreachable from a container and dropped.
    """
    host_ns, host_search, host_opts, other = [], [], [], []
    for line in host.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            if not words[1].startswith("127.") and words[1] != "::1":
                host_ns.append(words[1])
        elif words[0] in ("search", "domain"):
            host_search = words[1:]
        elif words[0] == "options":
            host_opts += words[1:]
    servers = list(nameservers) if nameservers else host_ns or FALLBACK_NAMESERVERS
    if embedded:
        servers = [embedded]
    out = [f"nameserver {s}" for s in servers]
    srch = search if search else host_search
    if srch and srch != ["."]:
        out.append("search " + " ".join(srch))
    opts = options if options else host_opts
    if opts:
        out.append("options " + " ".join(opts))
    return "\n".join(out + other) + "\n"
