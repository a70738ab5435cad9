"""A warm kernel inside a worker's sandbox: it imports the kernel's modules once, then forks
one kernel per notebook, each in namespaces of its own (see :mod:`grader.sandbox.zygote`).

It runs as ``python -m grader_zygote FD`` in a bubblewrap sandbox started with
``CAP_SYS_ADMIN``, ``CAP_NET_ADMIN`` and ``CAP_SETPCAP`` in the sandbox's user namespace
(user namespaces stay disabled: ``--disable-userns``), ``FD`` being its end of a stream
socket to the worker. It runs no thread and is not dumpable: a kernel can neither read its
memory nor name it (every kernel is in a pid namespace below it).

For each request (a length-prefixed JSON header, with the kernel's own socket to the worker
passed as ``SCM_RIGHTS``) it forks a *keeper*, which

1. sends its pid with ``SCM_CREDENTIALS`` (the worker sees its own pid for it, and moves it
   into the kernel's cgroups) and waits for ``G``;
2. unshares mount, pid, network, ipc and uts namespaces; mounts a size-capped tmpfs on the
   home folder with the student's files, and others on ``/tmp`` and ``/dev/shm``; covers the folder of
   kernel sockets with a tmpfs and binds back this kernel's folder alone; brings up ``lo``;
3. forks the namespace's pid 1, which mounts a ``/proc`` of that namespace, drops every
   capability (bounding, ambient, effective, permitted, inheritable) and sets
   ``no_new_privs``, sends its pid the same way (the worker kills the kernel through it),
   and forks the kernel (pid 2; both have ``PR_SET_PDEATHSIG``): the kernel closes the
   socket and runs ipykernel as ``python -m ipykernel_launcher`` would. Pid 1 exits as the
   kernel did, and everything the kernel started dies with it. The keeper drops its
   capabilities too;
4. waits for pid 1 and sends ``X`` and its exit code (``128 + N`` for signal N), then exits.

Nothing from a kernel reaches the worker but its exit code, through its keeper.
"""

from __future__ import annotations

import array
import base64
import ctypes
import fcntl
import gc
import json
import os
import random
import signal
import socket
import struct
import sys
import threading

_SERVICES = ("apigateway", "apigatewayv2", "cloudwatch", "cognitoidp", "dynamodb", "events")
_SERVICES += ("iam", "s3", "sts")

PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "debugpy",
    "IPython.core.interactiveshell",
    "psutil",
    "authlab",
    "authlab.course.kernel",
    "authlab.course.questions",
    "authlab.course.pricing",
    "authlab.tokens.verify",
    "authlab.tokens.display",
    "authlab.cloud.aws",
    "authlab.cloud.authcode",
    "authlab.cloud.cognito",
    "authlab.cloud.denylist",
    "authlab.cloud.federation",
    "authlab.cloud.gateway",
    "authlab.cloud.idp",
    "authlab.cloud.refresh",
    "authlab.cloud.signin",
    "boto3",
    "botocore.session",
    "flask",
    "werkzeug.serving",
    "moto.backends",
    "moto.moto_server.werkzeug_app",
    *(f"moto.{name}.{part}" for name in _SERVICES for part in ("models", "responses", "urls")),
)
"""Modules imported once, before any fork (each kernel would import them at its start)."""

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_REC, MS_PRIVATE, MS_BIND, MNT_DETACH = 16384, 1 << 18, 4096, 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
HEADER = struct.Struct("!I")
MAX_REQUEST = 256 * 2**20

_libc = ctypes.CDLL(None, use_errno=True)
_generators: list[random.Random] = []  # made at import: each kernel seeds them afresh


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _receive(sock: socket.socket) -> tuple[dict, int | None] | None:
    """One request and the kernel's socket, or ``None`` at the end of the stream."""
    fds = array.array("i")
    data, ancillary, _, _ = sock.recvmsg(HEADER.size, socket.CMSG_LEN(fds.itemsize))
    if not data:
        return None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    while len(data) < HEADER.size:
        more = sock.recv(HEADER.size - len(data))
        if not more:
            return None
        data += more
    (size,) = HEADER.unpack(data)
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    body = bytearray()
    while len(body) < size:
        more = sock.recv(min(2**20, size - len(body)))
        if not more:
            return None
        body += more
    return json.loads(body), (fds[0] if fds else None)


def _send_pid(sock: socket.socket, tag: bytes) -> None:
    creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
    sock.sendmsg([tag], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])


def _write_files(folder: str, files: dict[str, str]) -> None:
    for rel, data in sorted(files.items()):
        path = os.path.normpath(os.path.join(folder, rel))
        if not path.startswith(folder + "/"):
            continue
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, 0x8913, request))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # IFF_UP


def _mount_tmpfs(path: str, size: int, mode: str) -> None:
    options = f"size={size},mode={mode}".encode()
    flags = MS_NOSUID | MS_NODEV
    _check(_libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, options), f"tmpfs on {path}")


def _bind_read_only(source: str, path: str) -> None:
    _check(_libc.mount(source.encode(), path.encode(), None, MS_BIND | MS_REC, None), "bind")
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    _check(_libc.mount(None, path.encode(), None, flags, None), f"read-only {path}")


def _set_up(request: dict) -> None:
    """In the keeper: namespaces, file systems, loopback (capabilities still held)."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc.unshare(flags), "unshare")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    home, work, size = request["home"], request["workdir"], request["disk_bytes"]
    root, own = request["socket_root"], request["ipc_dir"]
    held = os.open(own, os.O_PATH | os.O_CLOEXEC)
    under_tmp = [p for p in request["readonly"] if p.startswith("/tmp/")]  # a checkout there
    kept = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC), os.path.isdir(p)) for p in under_tmp]
    _mount_tmpfs(home, size, "0700")
    os.makedirs(work, 0o700, exist_ok=True)
    _write_files(home, request["home_files"])
    _write_files(work, request["files"])
    _mount_tmpfs("/tmp", size, "1777")
    for path, fd, is_dir in kept:  # as bubblewrap binds them: on the new /tmp, read-only
        if is_dir:
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        _bind_read_only(f"/proc/self/fd/{fd}", path)
        os.close(fd)
    if os.path.isdir("/dev/shm"):  # bubblewrap's /dev is the zygote's: not shared either
        _mount_tmpfs("/dev/shm", size, "1777")
    if os.path.isdir(root):  # not under /tmp: cover the other kernels' folders
        _mount_tmpfs(root, 2**20, "0755")
    os.makedirs(own, 0o700)
    source = f"/proc/self/fd/{held}".encode()
    _check(_libc.mount(source, own.encode(), None, MS_BIND, None), "bind the socket folder")
    os.close(held)
    _loopback_up()


def _mount_proc() -> None:
    """In the kernel, pid 1 of its namespace: a ``/proc`` of that namespace (its processes
    only), with ``sys``, ``sysrq-trigger``, ``irq`` and ``bus`` read-only as bubblewrap
    leaves them."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare the mount namespace")  # its keeper's stays
    with open("/proc/self/mountinfo") as mounts:
        below = [line.split()[4] for line in mounts if line.split()[4].startswith("/proc/")]
    for path in sorted(below, key=len, reverse=True):
        _check(_libc.umount2(path.encode(), MNT_DETACH), f"unmount {path}")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(_libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")
    for name in ("sys", "sysrq-trigger", "irq", "bus"):
        path = f"/proc/{name}".encode()
        if os.path.exists(path):
            _check(_libc.mount(path, path, None, MS_BIND | MS_REC, None), f"bind {path!r}")
            remount = MS_REMOUNT | MS_BIND | MS_RDONLY | flags
            _check(_libc.mount(None, path, None, remount, None), f"read-only {path!r}")


AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
KEYRING_CALLS = {
    "x86_64": (248, 249, 250),
    "aarch64": (217, 218, 219),
}  # add_key request_key keyctl
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1


def _refuse_keyrings() -> None:
    """A seccomp filter: the kernel keyring calls fail with EPERM (every kernel of a zygote
    is the same user of the same user namespace, so a key one student adds, the next could
    read), and so does any call of another architecture or of the x32 ABI."""
    machine = os.uname().machine
    arch, calls = AUDIT_ARCH.get(machine), KEYRING_CALLS.get(machine)
    if arch is None or calls is None:
        raise OSError(f"seccomp: unknown machine {machine}")
    ld_abs, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JSET|K, RET|K
    deny = SECCOMP_RET_ERRNO | EPERM
    n = len(calls)
    program = [
        (ld_abs, 0, 0, 4),  # the architecture
        (jeq, 1, 0, arch),
        (ret, 0, 0, deny),
        (ld_abs, 0, 0, 0),  # the call's number
        (jset, n + 1, 0, 0x40000000),  # x32: to deny
        *((jeq, n - i, 0, call) for i, call in enumerate(calls)),
        (ret, 0, 0, SECCOMP_RET_ALLOW),
        (ret, 0, 0, deny),
    ]
    code = b"".join(struct.pack("HBBI", *op) for op in program)
    filters = ctypes.create_string_buffer(code)
    prog = struct.pack("HxxxxxxP", len(program), ctypes.addressof(filters))
    fprog = ctypes.create_string_buffer(prog)
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0), "seccomp")


def _drop_capabilities() -> None:
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last: ignored
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient")
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))
    data = ctypes.create_string_buffer(24)  # two of {effective, permitted, inheritable}
    number = SYS_CAPSET.get(os.uname().machine)
    if number is None:
        raise OSError("capset: unknown machine")
    _check(_libc.syscall(number, header, data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("CapEff", "CapPrm", "CapAmb", "CapInh", "CapBnd")):
                if int(line.split()[1], 16):
                    raise OSError(f"a capability is left: {line.strip()}")


def _init(request: dict, sock: socket.socket) -> None:
    """Pid 1 of the kernel's namespace, as bubblewrap's own: it mounts the namespace's
    ``/proc``, drops every capability, vouches for its pid, starts the kernel (pid 2),
    reaps orphans, and exits as the kernel did (``128 + N`` for signal N); everything left
    in the namespace dies with it. (The kernel is not pid 1 itself: pid 1 ignores signals
    it has no handler for, ``SIGXCPU`` at the CPU time limit among them.) Never returns."""
    code = 70
    try:
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the kernel's own signals are its own
        _mount_proc()
        _drop_capabilities()
        _refuse_keyrings()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _send_pid(sock, b"K")
        if sock.recv(1) != b"G":  # the worker holds a pidfd of this process now
            os._exit(70)
        kernel = os.fork()
        if kernel == 0:
            _run_kernel(request, sock)
        sock.close()
        while True:
            pid, status = os.wait()
            if pid == kernel:
                found = os.waitstatus_to_exitcode(status)
                code = 128 - found if found < 0 else found
                break
    except BaseException:  # noqa: BLE001 - the exit code says it failed
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _run_kernel(request: dict, sock: socket.socket) -> None:
    """In the kernel (pid 2 of its namespace): never returns."""
    code = 1
    try:
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        sock.close()
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as any kernel: its /proc is its own
        os.setsid()  # a session of its own, as bubblewrap's --new-session gives
        for generator in _generators:  # (``random``'s own reseeds itself after a fork)
            generator.seed()
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["workdir"])
        sys.path[0] = request["workdir"]  # as ``python -m`` in the working folder
        sys.argv = [request["argv0"], *request["args"]]
        from ipykernel import kernelapp

        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the zygote's log is not the student's to write
            os.dup2(quiet, fd)
        os.close(quiet)
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - said on stderr, then the exit code says it
        import traceback

        traceback.print_exc()
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _keep(request: dict, sock: socket.socket) -> None:
    """The keeper (see the module): never returns."""
    code = 70
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _send_pid(sock, b"P")
        if sock.recv(1) != b"G":
            os._exit(0)
        _set_up(request)
        init = os.fork()
        if init == 0:
            _init(request, sock)
        _drop_capabilities()
        _, status = os.waitpid(init, 0)
        code = os.waitstatus_to_exitcode(status)
        sock.sendall(b"X" + struct.pack("!i", code))
        code = 0
    except BaseException as exc:  # noqa: BLE001 - the worker starts this kernel cold
        try:
            sock.sendall(b"E" + f"{type(exc).__name__}: {exc}"[:500].encode())
        except OSError:
            pass
    finally:
        os._exit(0 if code == 0 else 70)


def main(fd: int) -> None:
    """Import, then serve requests on ``fd`` until it closes."""
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a kernel imports what is missing itself
            pass
    global _generators
    gc.collect()
    _generators = [o for o in gc.get_objects() if isinstance(o, random.Random)]
    gc.freeze()  # the kernels' pages stay shared longer (no collection touches them)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # keepers are reaped by the system
    control = socket.socket(fileno=fd)
    control.sendall(b"R")  # ready
    while True:
        received = _receive(control)
        if received is None:
            return
        request, kernel_fd = received
        if kernel_fd is None:
            continue
        if threading.active_count() != 1:  # a fork would copy a thread's locks: refuse
            os.close(kernel_fd)
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            _keep(request, socket.socket(fileno=kernel_fd))
        os.close(kernel_fd)


if __name__ == "__main__":
    main(int(sys.argv[1]))
