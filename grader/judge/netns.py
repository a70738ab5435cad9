"""A network of its own for the judge: loopback only, as in the sandbox.

The judge (:mod:`grader.judge.server`) runs no learner code, but it serves the learner's
kernel: the lesson objects it lends run the kernel's requests in the judge's process, and
the lessons it replays start local servers (moto, identity providers, the API Gateway)
that fetch what they are told to. :func:`isolate` moves the process into a new network
namespace where only a loopback interface exists (brought up here), so whatever the judge
is asked to fetch, it reaches no other host and no port of the grader's machine: the rule
holds by construction, not by checking URLs.

What keeps working: the judge's own servers on 127.0.0.1 (started after the move, in the
same namespace), the kernel's ZMQ channels and the judge's relay (Unix sockets in the
filesystem, which a network namespace does not separate).

As root, only the network namespace is new. Without root, a user namespace comes with it
(the process keeps its uid and gid, mapped to themselves), which needs unprivileged user
namespaces, as bubblewrap does; the process must then be single-threaded (a forked judge
is).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

__all__ = ["NetworkIsolationError", "isolate"]

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class NetworkIsolationError(OSError):
    """The process could not get a network of its own (the message says why)."""


def isolate() -> None:
    """Move this process into a new network namespace with loopback up, and nothing else.

    Raises :class:`NetworkIsolationError` if the kernel refuses (no user namespaces without
    root, a seccomp filter, not Linux).
    """
    uid, gid = os.geteuid(), os.getegid()
    flags = _CLONE_NEWNET if uid == 0 else _CLONE_NEWUSER | _CLONE_NEWNET
    _unshare(flags)
    if uid != 0:  # the new user namespace: this uid and gid, mapped to themselves
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _loopback_up()


def _unshare(flags: int) -> None:
    if hasattr(os, "unshare"):  # Python 3.12
        try:
            os.unshare(flags)
        except OSError as exc:
            raise NetworkIsolationError(exc.errno, f"unshare failed: {exc.strerror}") from None
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        unshare = libc.unshare
    except (OSError, AttributeError):
        raise NetworkIsolationError("network namespaces need Linux") from None
    if unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise NetworkIsolationError(errno, f"unshare failed: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as handle:  # noqa: PTH123 - /proc files
            handle.write(text)
    except OSError as exc:
        raise NetworkIsolationError(exc.errno, f"writing {path} failed: {exc.strerror}") from None


def _loopback_up() -> None:
    """Bring up ``lo`` in this (new) network namespace."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack("16sH14x", b"lo", 0)
            found = fcntl.ioctl(sock, _SIOCGIFFLAGS, request)
            flags = struct.unpack("16sH14x", found)[1]
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
    except OSError as exc:
        raise NetworkIsolationError(exc.errno, f"loopback did not come up: {exc}") from None
