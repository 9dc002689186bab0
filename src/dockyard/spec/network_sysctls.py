"""The network sysctls every container with a network namespace of its own starts with (pure).

Docker sets these in each *private* network namespace (a bridge network or
``none``; not ``host``, not ``container:<peer>``, whose namespace is the
peer's and already set):

- ``net.ipv4.ip_unprivileged_port_start=0``: a non-root process may bind
  ports below 1024 (a web server running as ``nginx`` on port 80) without
  ``CAP_NET_BIND_SERVICE``;
- ``net.ipv4.ping_group_range=0 2147483647``: ``ping`` works through ICMP
  datagram sockets without ``CAP_NET_RAW`` -- except in a user namespace
  (userns-remap), where most of that range maps to no group and the kernel
  refuses the write;
- ``net.ipv6.conf.{all,default}.disable_ipv6=1`` when none of the container's
  endpoints has an IPv6 address: no link-local or loopback IPv6 that no
  network routes (what libnetwork does for a container without IPv6).

The request's own ``--sysctl`` values win over these (``bundle.build_spec``
merges them last), as in Docker, where users write
``--sysctl net.ipv6.conf.all.disable_ipv6=0`` to keep IPv6.
"""

from __future__ import annotations

PRIVATE_NET_DEFAULTS = {"net.ipv4.ip_unprivileged_port_start": "0"}
PING_GROUPS = {"net.ipv4.ping_group_range": "0 2147483647"}
NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}


def private_network(network_mode: str) -> bool:
    """Docker's ``NetworkMode.IsPrivate``: the container gets a network namespace of its own."""
    return network_mode != "host" and not network_mode.startswith("container:")


def network_sysctls(network_mode: str, *, ipv6: bool, user_namespace: bool) -> dict[str, str]:
    """The default sysctls of a container in ``network_mode``.

    ``ipv6``: one of its endpoints has an IPv6 address; ``user_namespace``: it
    runs in a remapped user namespace.
    """
    if not private_network(network_mode or "default"):
        return {}
    out = dict(PRIVATE_NET_DEFAULTS)
    if not user_namespace:
        out.update(PING_GROUPS)
    if not ipv6:
        out.update(NO_IPV6)
    return out
