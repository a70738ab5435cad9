"""Loaded by every Python process of a kernel graded with ``--no-sandbox`` (put on PYTHONPATH).

With the OS sandbox (the default, :mod:`grader.sandbox.bwrap`) this file is not used: the kernel
has no network but loopback and its limits are rlimits and cgroups set outside it. Without
the sandbox (trusted work only) it does nothing unless ``GRADER_SANDBOX=1``. Then it

* caps the process's address space at ``GRADER_MEMORY_MB`` (``RLIMIT_AS``, soft and hard,
  inherited by child processes), so runaway allocation ends in ``MemoryError``;
* when ``GRADER_NETWORK=loopback``, makes Python sockets refuse every address but the
  loopback range and makes name lookups refuse every name but ``localhost``.

What it does not stop: code that bypasses Python's ``socket`` module (ctypes, a C extension,
a non-Python program started with ``subprocess``), or raising the limit as root. It guards
against mistakes, not attackers: see :mod:`grader.sandbox.kernel`.
"""

import os


def apply() -> None:
    """Apply the limits that the environment asks for (called at start-up, or by the zygote)."""
    if os.environ.get("GRADER_SANDBOX") != "1":
        return
    import errno
    import ipaddress
    import resource
    import socket

    _mb = int(os.environ.get("GRADER_MEMORY_MB") or 0)
    if _mb > 0:
        _limit = _mb * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))
        except (ValueError, OSError):  # pragma: no cover - a lower hard limit is already set
            pass

    if os.environ.get("GRADER_NETWORK") == "loopback":
        _LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
        _MESSAGE = "network access is disabled while grading: only 127.0.0.1 (loopback) works"

        def _is_local(host) -> bool:
            if isinstance(host, bytes):
                host = host.decode("ascii", "replace")
            if host is None:
                return True
            host = str(host).strip("[]").split("%")[0]
            if host.lower() in _LOCAL_NAMES:
                return True
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return False
            mapped = getattr(address, "ipv4_mapped", None)
            return address.is_loopback or bool(mapped and mapped.is_loopback)

        def _check(sock, address) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
                if address and not _is_local(address[0]):
                    raise OSError(errno.ENETUNREACH, _MESSAGE)

        _connect = socket.socket.connect
        _connect_ex = socket.socket.connect_ex
        _sendto = socket.socket.sendto
        _getaddrinfo = socket.getaddrinfo

        def connect(self, address):
            _check(self, address)
            return _connect(self, address)

        def connect_ex(self, address):
            _check(self, address)
            return _connect_ex(self, address)

        def sendto(self, data, *args):
            _check(self, args[-1])
            return _sendto(self, data, *args)

        def getaddrinfo(host, *args, **kwargs):
            if not _is_local(host):
                raise socket.gaierror(socket.EAI_NONAME, _MESSAGE)
            return _getaddrinfo(host, *args, **kwargs)

        socket.socket.connect = connect
        socket.socket.connect_ex = connect_ex
        socket.socket.sendto = sendto
        socket.getaddrinfo = getaddrinfo


apply()
