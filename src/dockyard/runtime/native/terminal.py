"""The container's terminal: a pty from the container's devpts, its master sent to the engine.

conmon (and runc's ``recvtty``) listen on a unix socket passed as
``--console-socket``; the runtime connects, sends the pty master with
SCM_RIGHTS and closes.  The slave becomes the container process's stdio and
controlling terminal.  ``_socket`` is used instead of ``socket`` to keep
``enum`` out of the start-up path.
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.native.syscalls import Syscalls

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
SOL_SOCKET = 1
SCM_RIGHTS = 1


def connect_console_socket(path: str) -> int:
    """Connect to the engine's console socket; returns a (close-on-exec) fd."""
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as exc:
        s.close()
        raise OSError(exc.errno, f"connect console socket {path}: {exc.strerror}") from None
    return s.detach()


def send_fd(sock_fd: int, fd: int, name: str) -> None:
    """Send ``fd`` over the unix socket ``sock_fd`` with SCM_RIGHTS (runc sends the pty's name)."""
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, sock_fd)
    try:
        s.sendmsg([name.encode()], [(SOL_SOCKET, SCM_RIGHTS, fd.to_bytes(4, "little", signed=True))])
    finally:
        s.detach()


def open_pty(sys: Syscalls | None = None) -> tuple[int, int, str]:
    """Open /dev/ptmx of the *current* root (the container's devpts); (master, slave, slave path)."""
    import fcntl

    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        buf = fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0")
        number = int.from_bytes(buf, "little")
        fcntl.ioctl(master, TIOCSPTLCK, b"\0\0\0\0")
        slave_path = f"/dev/pts/{number}"
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave, slave_path


def window_size(process: dict) -> tuple[int, int] | None:
    """``process.consoleSize`` as (rows, columns), or None when absent or zero."""
    size = process.get("consoleSize") or {}
    rows, cols = int(size.get("height") or 0), int(size.get("width") or 0)
    return (rows, cols) if rows and cols else None


def set_window_size(fd: int, rows: int, cols: int) -> None:
    """TIOCSWINSZ on a pty (either side): the size its process reads with TIOCGWINSZ."""
    import fcntl

    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def setup_console(sys: Syscalls, console_sock: int, uid: int, gid: int, mount_console: bool = True,
                  size: tuple[int, int] | None = None) -> None:
    """In the container: make a pty, send its master, make the slave our terminal and stdio.

    ``size`` (the client's terminal, ``process.consoleSize``) is set before the
    master leaves and so before the process runs: a resize from the engine
    would come after the process's first TIOCGWINSZ and ``stty size`` would
    read 0 0 now and then (issue 15; runc's setupConsole does the same).
    """
    import fcntl

    master, slave, slave_path = open_pty(sys)
    try:
        if size is not None:
            set_window_size(master, *size)
        os.fchown(slave, uid, gid)
        if mount_console and os.path.isdir("/dev"):
            console = "/dev/console"
            if not os.path.lexists(console):
                os.close(os.open(console, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            from dockyard.runtime.native import syscalls as sc

            sys.mount(slave_path, console, None, sc.MS_BIND)
        send_fd(console_sock, master, slave_path)
    finally:
        os.close(master)
    os.setsid()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    os.close(slave)
