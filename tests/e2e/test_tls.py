"""The API on TCP with mutual TLS: the docker CLI and docker-py with certificates this test makes.

One daemon listens on its unix socket and on a loopback TCP port at once, with
``tlsverify`` set through daemon.json (the flags are tested by the plain-TCP
and bad-configuration tests below).  Clients without a certificate, or with one
from another CA, fail the handshake.
"""

from __future__ import annotations

import grp
import os
import socket
import ssl
import stat
import subprocess
import time

import docker
import pytest

from tests.support.daemon import Daemon, docker as docker_cli, new_daemon
from tests.support.tls import CA, write_cert_dir, free_port

HANDSHAKE_TIMEOUT = 3  # seconds the test daemon gives a client to finish its TLS handshake


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    ca, other = CA("dockyard test CA"), CA("some other CA")
    return {
        "server": write_cert_dir(str(base / "server"), ca, ca.issue("localhost", server=True)),
        "client": write_cert_dir(str(base / "client"), ca, ca.issue("client", server=False)),
        "nocert": write_cert_dir(str(base / "nocert"), ca, None),
        "foreign": write_cert_dir(str(base / "foreign"), ca, other.issue("intruder", server=False)),
    }


@pytest.fixture(scope="module")
def tls_daemon(pki, busybox_tar):
    port = free_port()
    server = pki["server"]
    d = new_daemon(config={"tlsverify": True, "tlscacert": f"{server}/ca.pem", "tlscert": f"{server}/cert.pem",
                           "tlskey": f"{server}/key.pem"},
                   extra_args=["-H", f"tcp://127.0.0.1:{port}"],
                   daemon_env={"DOCKYARD_TLS_HANDSHAKE_TIMEOUT": str(HANDSHAKE_TIMEOUT)})
    d.port = port  # type: ignore[attr-defined]
    d.start()
    try:
        docker_cli(d, "import", str(busybox_tar), "busybox:latest", check=True)
        yield d
    finally:
        d.cleanup()


def tls_env(d: Daemon, cert_dir: str) -> dict[str, str]:
    env = d.env()
    env.update(DOCKER_HOST=f"tcp://127.0.0.1:{d.port}", DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=cert_dir)
    return env


def cli(d: Daemon, cert_dir: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=tls_env(d, cert_dir), input=input, capture_output=True,
                          text=True, timeout=60)


def test_docker_cli_run_over_mutual_tls(tls_daemon, pki):
    r = cli(tls_daemon, pki["client"], "run", "--rm", "busybox", "echo", "over tls")
    assert (r.returncode, r.stdout) == (0, "over tls\n"), r.stderr


def test_stdin_eof_over_tls_keeps_the_output(tls_daemon, pki):
    """The CLI ends stdin with a TLS close_notify; the container's output after it still arrives."""
    r = cli(tls_daemon, pki["client"], "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo after-eof",
            input="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\nafter-eof\n"), r.stderr


def test_exec_over_tls(tls_daemon, pki):
    r = cli(tls_daemon, pki["client"], "run", "-d", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        r = cli(tls_daemon, pki["client"], "exec", "-i", cid, "sh", "-c", "cat; echo exec-done", input="in\n")
        assert (r.returncode, r.stdout) == (0, "in\nexec-done\n"), r.stderr
    finally:
        cli(tls_daemon, pki["client"], "rm", "-f", cid)


def test_unix_socket_serves_at_the_same_time(tls_daemon):
    assert tls_daemon.request("GET", "/_ping")[0] == 200
    mode = os.stat(tls_daemon.socket)
    assert stat.S_IMODE(mode.st_mode) == 0o660
    try:
        assert mode.st_gid == grp.getgrnam("docker").gr_gid
    except KeyError:
        assert mode.st_gid == 0


def test_client_without_certificate_is_refused(tls_daemon, pki):
    r = cli(tls_daemon, pki["nocert"], "version")
    assert r.returncode != 0
    assert "certificate required" in r.stderr, r.stderr


def test_client_from_another_ca_is_refused(tls_daemon, pki):
    r = cli(tls_daemon, pki["foreign"], "version")
    assert r.returncode != 0
    assert "tls:" in r.stderr and "Server:" not in r.stdout, r.stderr
    # And at the TLS level, for any client: the handshake itself fails.
    ctx = ssl.create_default_context(cafile=f"{pki['foreign']}/ca.pem")
    ctx.load_cert_chain(f"{pki['foreign']}/cert.pem", f"{pki['foreign']}/key.pem")
    with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                if not s.recv(100):  # TLS 1.3: the refusal arrives after the client's side finished
                    raise ConnectionResetError("closed")


def _first_ping(port: int, ctx: ssl.SSLContext) -> tuple[float, ssl.SSLSocket]:
    """Handshake, then the time from the handshake's end to the first answer (Nagle on, as Python's default)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    t0 = time.perf_counter()
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"OK" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    return time.perf_counter() - t0, s


def test_no_resumable_tickets_and_no_delayed_ack_on_the_first_request(tls_daemon, pki):
    # No stateless TLS 1.3 ticket (no API client resumes; OpenSSL spends ~0.35 ms making
    # two): the two stateful ones OpenSSL sends instead resume nothing, with the cache off.
    # It waits for the first response, so the ACK of the client's Finished goes out at
    # once: a Nagle client's first request would otherwise wait for the 40 ms delayed ACK.
    ctx = ssl.create_default_context(cafile=f"{pki['client']}/ca.pem")
    ctx.load_cert_chain(f"{pki['client']}/cert.pem", f"{pki['client']}/key.pem")
    waits = []
    for _ in range(5):
        wait, s = _first_ping(tls_daemon.port, ctx)
        with s:
            assert s.version() == "TLSv1.3"
            session = s.session
        waits.append(wait)
        with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as again:
                again.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                assert b"OK" in again.recv(1000)
                assert not again.session_reused
    assert min(waits) < 0.025, waits  # a delayed ACK makes every one ≥ ~37 ms


def client_ctx(cert_dir: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=f"{cert_dir}/ca.pem")
    ctx.load_cert_chain(f"{cert_dir}/cert.pem", f"{cert_dir}/key.pem")
    return ctx


def ping(port: int, ctx: ssl.SSLContext) -> bytes:
    """A whole request on a connection of its own; the server ends it with a close_notify."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):  # a TCP FIN without close_notify raises SSLEOFError
                data += chunk
    return data


def test_connection_close_ends_with_close_notify(tls_daemon, pki):
    data = ping(tls_daemon.port, client_ctx(pki["client"]))
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"OK"), data


def test_hijacked_stream_with_large_output_and_input(tls_daemon, pki):
    """20 MB out of an attached container and 8 MB into an exec's stdin, through the TLS layer's flow control."""
    env = tls_env(tls_daemon, pki["client"])
    r = subprocess.run(["docker", "run", "--rm", "busybox", "sh", "-c",
                        "dd if=/dev/zero bs=1048576 count=20 2>/dev/null; echo end"],
                       env=env, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 20 * 1048576 + 4 and r.stdout.endswith(b"\x00end\n")
    r = cli(tls_daemon, pki["client"], "run", "-d", "busybox", "sleep", "120")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        blob = os.urandom(8 * 1048576)
        r2 = subprocess.run(["docker", "exec", "-i", cid, "sh", "-c", "wc -c; echo exec-done"], env=env,
                            input=blob, capture_output=True, timeout=120)
        assert r2.returncode == 0, r2.stderr
        assert r2.stdout.split() == [str(len(blob)).encode(), b"exec-done"]
    finally:
        cli(tls_daemon, pki["client"], "rm", "-f", cid)


def test_image_save_and_load_stream_over_tls(tls_daemon, pki, tmp_path):
    """Large streamed bodies both ways: a saved image comes out and goes back in through TLS."""
    tar = tmp_path / "img.tar"
    r = cli(tls_daemon, pki["client"], "save", "-o", str(tar), "busybox:latest")
    assert r.returncode == 0, r.stderr
    assert tar.stat().st_size > 1 << 20
    assert cli(tls_daemon, pki["client"], "rmi", "busybox:latest").returncode == 0
    r = cli(tls_daemon, pki["client"], "load", "-i", str(tar))
    assert r.returncode == 0 and "busybox:latest" in r.stdout, r.stderr
    assert cli(tls_daemon, pki["client"], "image", "inspect", "busybox:latest").returncode == 0


@pytest.mark.parametrize("garbage", [
    os.urandom(4096),
    b"\x16\x03\x01\xff\xff" + b"\x01" * 300,  # a handshake record header, then nonsense
    b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",  # a ClientHello too short to be one
])
def test_garbage_instead_of_a_client_hello_is_dropped(tls_daemon, pki, garbage):
    with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as s:
        s.sendall(garbage)
        try:
            answer = s.recv(1000)
            while answer[-1:] and (more := s.recv(1000)):
                answer += more
        except ConnectionResetError:
            answer = b""
        # at most a TLS alert (content type 21), then the connection is closed
        assert answer == b"" or answer[0] == 21, answer
    assert ping(tls_daemon.port, client_ctx(pki["client"])).endswith(b"OK")


def test_a_stalled_handshake_holds_nobody_and_is_dropped(tls_daemon, pki):
    """Clients that stop in the middle of a ClientHello: others are served at once, the stalled go after the timeout."""
    ctx = client_ctx(pki["client"])
    hello = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(*hello, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    client_hello = hello[1].read()
    stalled = []
    try:
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10)
            s.sendall(client_hello[:len(client_hello) // 2])
            stalled.append(s)
        t0 = time.monotonic()
        assert ping(tls_daemon.port, ctx).endswith(b"OK")
        assert time.monotonic() - t0 < 2
        for s in stalled:
            s.settimeout(HANDSHAKE_TIMEOUT + 10)
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
        waited = time.monotonic() - t0
        assert HANDSHAKE_TIMEOUT - 1 < waited < HANDSHAKE_TIMEOUT + 5, waited
    finally:
        for s in stalled:
            s.close()


def test_run_it_and_exec_it_over_tls(tls_daemon, pki):
    """A TTY session through the hijacked TLS stream: keystrokes in, echo and output back, exit code out."""
    import pexpect

    env = tls_env(tls_daemon, pki["client"])
    p = pexpect.spawn("docker", ["run", "-it", "--rm", "--name", "tls-tty", "busybox", "sh"], env=env,
                      dimensions=(30, 100), timeout=30)
    try:
        p.expect(r"# ")
        p.sendline("echo tty-$((6*7))")
        p.expect("tty-42")
        e = pexpect.spawn("docker", ["exec", "-it", "tls-tty", "sh", "-c", "echo exec-$((2+3)); exit 3"], env=env,
                          dimensions=(20, 70), timeout=30)
        e.expect("exec-5")
        e.expect(pexpect.EOF)
        e.close()
        assert e.exitstatus == 3
        p.sendline("exit 5")
        p.expect(pexpect.EOF)
    finally:
        p.close(force=True)
        cli(tls_daemon, pki["client"], "rm", "-f", "tls-tty")
    assert p.exitstatus == 5


def test_tls12_client_with_certificate(tls_daemon, pki):
    """Clients that stop at TLS 1.2 (older Go, curl builds) get dockerd's ECDHE suites and the same checks."""
    ctx = client_ctx(pki["client"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() == "TLSv1.2" and s.cipher()[0].startswith("ECDHE-")
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"OK" in s.recv(1000)
    nocert = ssl.create_default_context(cafile=f"{pki['nocert']}/ca.pem")
    nocert.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE|CERTIFICATE_REQUIRED|handshake failure"):
            nocert.wrap_socket(raw, server_hostname="localhost")


def _sent_chain(port: int, cert_dir: str) -> list[str]:
    """The common names of the certificates the server sends (pyOpenSSL's client shows them as sent)."""
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.load_verify_locations(f"{cert_dir}/ca.pem")
    ctx.use_certificate_chain_file(f"{cert_dir}/cert.pem")
    ctx.use_privatekey_file(f"{cert_dir}/key.pem")
    ctx.set_verify(SSL.VERIFY_PEER, lambda *args: args[-1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.settimeout(None)  # pyOpenSSL reads the descriptor itself: a blocking one
        conn = SSL.Connection(ctx, raw)
        conn.set_tlsext_host_name(b"localhost")
        conn.set_connect_state()
        conn.do_handshake()
        chain = [c.subject.rfc4514_string().removeprefix("CN=")
                 for c in conn.get_peer_cert_chain(as_cryptography=True)]
        conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"OK" in conn.recv(1000)
    return chain


def test_the_server_sends_the_certificates_of_its_cert_file_only(tls_daemon, pki, tmp_path):
    # As Go's server: the CA the client holds is not appended from the verify store
    # (OpenSSL's auto-chain, which also cost a chain verification per handshake).
    assert _sent_chain(tls_daemon.port, pki["client"]) == ["localhost"]
    # An intermediate in the cert file goes along, and the client needs only the root.
    root = CA("dockyard root CA")
    inter = CA("dockyard intermediate CA", parent=root)
    server = write_cert_dir(str(tmp_path / "server"), root, None)
    leaf = inter.issue("localhost", server=True)
    with open(f"{server}/cert.pem", "wb") as f:
        f.write(leaf.cert_pem + inter.pem)
    with open(f"{server}/key.pem", "wb") as f:
        f.write(leaf.key_pem)
    client = write_cert_dir(str(tmp_path / "client"), root, inter.issue("client", server=False))
    with open(f"{client}/cert.pem", "ab") as f:  # the client's intermediate too, as the server needs it
        f.write(inter.pem)
    port = free_port()
    d = new_daemon(extra_args=["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", f"{server}/ca.pem",
                               "--tlscert", f"{server}/cert.pem", "--tlskey", f"{server}/key.pem"])
    d.port = port  # type: ignore[attr-defined]
    d.start()
    try:
        assert _sent_chain(port, client) == ["localhost", "dockyard intermediate CA"]
        proc = cli(d, client, "version", "--format", "{{.Server.Os}}")
        assert proc.returncode == 0 and proc.stdout.strip() == "linux", proc.stderr
    finally:
        d.cleanup()


def test_a_client_hello_in_pieces_and_many_clients_at_once(tls_daemon, pki):
    """The accept path answers a ClientHello that comes in several segments, and a burst of clients."""
    ctx = client_ctx(pki["client"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as s:
        with pytest.raises(ssl.SSLWantReadError):
            obj.do_handshake()
        hello = outgoing.read()
        for i in range(0, len(hello), 100):
            s.sendall(hello[i:i + 100])
            time.sleep(0.05)
        while True:
            incoming.write(s.recv(65536))
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                s.sendall(outgoing.read())
        obj.write(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        s.sendall(outgoing.read())
        answer = b""
        while b"OK" not in answer:
            incoming.write(s.recv(65536))
            try:
                answer += obj.read(65536)
            except ssl.SSLWantReadError:
                pass
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda _: ping(tls_daemon.port, ctx), range(200)))
    assert all(a.startswith(b"HTTP/1.1 200") and a.endswith(b"OK") for a in answers)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_idle_connections_cost_no_tls_state(tls_daemon, pki):
    """Connections that never send a ClientHello hold a socket, not an OpenSSL connection (~9 KB each)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = 2000
    if hard < n + 200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {n + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 200), hard))
    ctx = client_ctx(pki["client"])
    assert ping(tls_daemon.port, ctx).endswith(b"OK")
    before = _rss_kb(tls_daemon.proc.pid)
    idle = []
    try:
        for _ in range(n):
            idle.append(socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10))
        assert ping(tls_daemon.port, ctx).endswith(b"OK")  # accepted after all of them
        grown = _rss_kb(tls_daemon.proc.pid) - before
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert grown < 8 * 1024, f"{n} idle connections grew the daemon by {grown} kB"


def test_plain_http_on_the_tls_port_gets_nothing(tls_daemon):
    with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"OK" not in s.recv(1000)


def test_docker_py_tlsconfig(tls_daemon, pki, monkeypatch):
    # requests prefers these to the CA docker-py hands it (this machine sets them)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    c = pki["client"]
    tls = docker.tls.TLSConfig(client_cert=(f"{c}/cert.pem", f"{c}/key.pem"), ca_cert=f"{c}/ca.pem", verify=True)
    client = docker.DockerClient(base_url=f"https://127.0.0.1:{tls_daemon.port}", tls=tls, timeout=60)
    try:
        assert client.ping() is True
        assert client.containers.run("busybox", ["sh", "-c", "echo py; echo err >&2"], remove=True) == b"py\n"
        ctr = client.containers.run("busybox", ["sleep", "60"], detach=True)
        try:
            assert ctr.exec_run(["echo", "exec"]).output == b"exec\n"
            sock = ctr.attach_socket(params={"stdin": 1, "stream": 1, "stdout": 1})
            sock.close()
        finally:
            ctr.remove(force=True)
    finally:
        client.close()
    bad = docker.tls.TLSConfig(ca_cert=f"{c}/ca.pem", verify=True)
    with pytest.raises(docker.errors.DockerException, match="certificate required"):
        docker.DockerClient(base_url=f"https://127.0.0.1:{tls_daemon.port}", tls=bad, timeout=10)


def test_plain_tcp_on_loopback_warns_in_info():
    port = free_port()
    d = new_daemon(extra_args=["-H", f"tcp://127.0.0.1:{port}"])
    d.start()
    try:
        env = d.env()
        env["DOCKER_HOST"] = f"tcp://127.0.0.1:{port}"
        r = subprocess.run(["docker", "info", "--format", "{{json .Warnings}}"], env=env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert f"API is accessible on http://127.0.0.1:{port} without encryption" in r.stdout
        assert "without --tlsverify is insecure" in d.log()
    finally:
        d.cleanup()


@pytest.mark.parametrize("args, message", [
    (["-H", "tcp://0.0.0.0:{port}"], "refusing to listen on tcp://0.0.0.0:{port} without TLS"),
    (["-H", "tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", "/nonexistent/ca.pem",
      "--tlscert", "/nonexistent/cert.pem", "--tlskey", "/nonexistent/key.pem"],
     'invalid TLS configuration: could not load X509 key pair (cert: "/nonexistent/cert.pem"'),
    (["--group", "no-such-group-dy"], "group no-such-group-dy not found"),
])
def test_unsafe_or_broken_listener_config_refuses_to_start(args, message):
    """Nothing is listened on: no TCP port, no socket, and the daemon says why."""
    port = free_port()
    d = new_daemon(extra_args=[a.format(port=port) for a in args])
    try:
        with pytest.raises(RuntimeError, match="dockyardd exited 1"):
            d.start(timeout=10)
        assert message.format(port=port) in d.log()
        assert not os.path.exists(d.socket)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        d.cleanup()
