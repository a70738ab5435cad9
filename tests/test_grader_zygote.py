"""grader.sandbox.zygote: kernels forked from a warm kernel get what a fresh sandbox gives.

Each test runs real kernels in bubblewrap, forked from this process's zygote, and looks
from inside (what the student's code can see and do) and from outside (what is left).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from grader.sandbox import zygote
from grader.sandbox.bwrap import probe

pytestmark = pytest.mark.skipif(probe() is not None, reason="no bubblewrap sandbox here")

LOOK = r"""
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
caps = {l.split(":")[0]: int(l.split()[1], 16) for l in open("/proc/self/status") if l.startswith("Cap")}
userns = libc.unshare(0x10000000)
mounted = libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)
outside = socket.socket()
outside.settimeout(1)
try:
    outside.connect(("192.0.2.1", 80))
    reached = True
except OSError:
    reached = False
print(json.dumps({
    "pid": os.getpid(),
    "first": open("/proc/1/cmdline", "rb").read().split(b"\0")[2].decode(),
    "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "caps": caps,
    "userns": userns,
    "mount": mounted,
    "files": sorted(os.listdir(".")),
    "tmp": sorted(os.listdir("/tmp")) + sorted(os.listdir("/dev/shm")),
    "home": sorted(os.listdir("/home/student")),
    "outside": reached,
}))
"""


WHO = "b = open('/proc/1/cmdline', 'rb').read().split(bytes(1)); print((b[2] if b[1] == b'-m' else b[0].rsplit(b'/', 1)[-1]).decode())"
"""What pid 1 of the kernel's namespace is: ``grader_zygote`` (forked) or ``bwrap`` (cold)."""


def _run(folder: Path, *sources: str) -> list[str]:
    from grader.sandbox.kernel import SandboxExecute

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    executed, _ = SandboxExecute(timeout=60, allow_errors=True).preprocess(
        nb, {"metadata": {"path": str(folder)}}
    )
    found = []
    for cell in executed.cells:
        found.append("".join(o.get("text", "") or o.get("evalue", "") for o in cell.outputs))
    return found


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.delenv(zygote.ENV_SWITCH, raising=False)
    zygote.stop()
    monkeypatch.setattr(zygote, "_failures", 0)
    yield
    zygote.stop()


def _student(tmp_path: Path, name: str, **files: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for rel, text in files.items():
        (folder / rel).write_text(text)
    return folder


def test_a_forked_kernel_is_alone_without_capabilities_and_sees_only_its_files(tmp_path, fresh):
    first = _student(tmp_path, "ada", **{"ada.txt": "ada's answer"})
    second = _student(tmp_path, "bob", **{"bob.txt": "bob's"})
    _run(
        first,
        "open('/tmp/left-by-ada', 'w').write('x'); open('mine.txt', 'w').write('y')\n"
        "open('/dev/shm/left-by-ada', 'w').write('z')",
    )
    [said] = _run(second, LOOK)
    seen = json.loads(said)
    assert seen["pid"] == 2 and seen["procs"] == [1, 2]  # its own pid namespace and /proc
    assert seen["first"] == "grader_zygote"  # pid 1: forked from the warm kernel
    assert set(seen["caps"].values()) == {0}, seen["caps"]
    assert seen["userns"] == -1 and seen["mount"] == -1
    assert seen["files"] == ["bob.txt"]
    assert not any("left-by-ada" in name for name in seen["tmp"])
    assert seen["outside"] is False
    assert zygote._zygote is not None and zygote._zygote.alive()


def test_the_socket_folder_holds_this_kernels_sockets_alone(tmp_path, fresh):
    folder = _student(tmp_path, "ada")
    [said] = _run(
        folder,
        "import os, json\n"
        "here = os.path.dirname(os.environ['JPY_CONNECTION_FILE'] if 'JPY_CONNECTION_FILE' in os.environ else __import__('ipykernel').connect.get_connection_file())\n"
        "print(json.dumps([sorted(os.listdir(os.path.dirname(here))), os.path.basename(here)]))",
    )
    siblings, own = json.loads(said)
    assert siblings == [own]  # the zygote's folder shows this kernel's folder alone


def test_nothing_a_kernel_starts_outlives_it(tmp_path, fresh):
    import psutil

    folder = _student(tmp_path, "ada")
    [said] = _run(
        folder,
        "import os, subprocess\n"
        "print(open('/proc/1/cmdline').read().split(chr(0))[2])\n"
        "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "subprocess.Popen(['sh', '-c', '(sleep 601 &) ; sleep 602'], start_new_session=True)",
    )
    assert said.strip() == "grader_zygote"  # forked by the warm kernel
    warm = psutil.Process(zygote._zygote._process.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in warm.children(recursive=True) if "sleep" in " ".join(p.cmdline())]
        if not left:
            break
        time.sleep(0.1)
    assert left == []


def test_a_kernel_cannot_reach_the_zygote_and_a_dead_zygote_is_replaced(tmp_path, fresh):
    folder = _student(tmp_path, "ada")
    [said] = _run(
        folder,
        "import os, signal\n"
        "hit = []\n"
        "own = {int(t) for t in os.listdir('/proc/self/task')}\n"
        "for pid in sorted(set(range(2, 400)) - own):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL); hit.append(pid)\n"
        "    except OSError:\n"
        "        pass\n"
        "print(hit)",
    )
    assert said.strip() == "[]"
    first = zygote._zygote
    assert first is not None and first.alive()
    first._process.kill()  # as if anything could
    first._process.wait()
    [again] = _run(folder, WHO)
    assert again.strip() == "grader_zygote"
    assert zygote._zygote is not None and zygote._zygote is not first


def test_a_refused_fork_starts_the_kernel_cold(tmp_path, fresh, monkeypatch, caplog):
    def refuse(self, *args, **kwargs):
        raise zygote.ZygoteFailed("the warm kernel refused: test")

    monkeypatch.setattr(zygote.Zygote, "launch", refuse)
    folder = _student(tmp_path, "ada", **{"a.txt": "a"})
    [said, files] = _run(folder, WHO, "import os; print(sorted(os.listdir('.')))")
    assert said.strip() == "bwrap" and files.strip() == "['a.txt']"  # a cold sandbox
    assert "this kernel starts cold" in caplog.text


def test_switched_off_every_kernel_starts_cold(tmp_path, fresh, monkeypatch):
    monkeypatch.setenv(zygote.ENV_SWITCH, "0")
    folder = _student(tmp_path, "ada")
    [said] = _run(folder, WHO)
    assert said.strip() == "bwrap" and zygote._zygote is None


def test_exit_codes_come_through_the_keeper(tmp_path, fresh):
    from grader.sandbox.kernel import SandboxKernelManager

    async def run() -> int | None:
        manager = SandboxKernelManager()
        await manager.start_kernel()
        process = manager.provisioner.process
        assert isinstance(process, zygote.KernelProcess)
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=30)
        client.execute("import os; os._exit(7)")
        for _ in range(100):
            if process.poll() is not None:
                break
            time.sleep(0.05)
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
        return process.returncode

    import asyncio

    assert asyncio.run(run()) == 7


def test_a_forked_worker_starts_its_own_zygote_and_leaves_its_parents(tmp_path, fresh):
    folder = _student(tmp_path, "ada", **{"a.txt": "a"})
    _run(folder, "1")
    parent = zygote._zygote
    assert parent is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # as a pool's worker: its own zygote, the right files
        try:
            [said] = _run(
                _student(tmp_path, "bob", **{"b.txt": "b"}),
                WHO + "\nimport os; print(sorted(os.listdir('.')))",
            )
            ours = zygote._zygote
            ok = (
                ours is not None
                and ours is not parent
                and said.split() == ["grader_zygote", "['b.txt']"]
            )
            os.write(write, b"1" if ok else said.encode()[:200] or b"0")
        finally:
            zygote.stop()
            os._exit(0)
    os.close(write)
    said = os.read(read, 300)
    os.waitpid(pid, 0)
    assert said == b"1"
    assert parent.alive() and zygote._zygote is parent


def test_what_one_kernel_leaves_anywhere_the_next_cannot_find(tmp_path, fresh):
    """Writable is only what is the kernel's own (home, /tmp, /dev/shm): /, /dev and the
    startup folder are read-only, and the kernel keyring is refused (the kernels of one
    zygote are one user of one user namespace, so a key would pass between students)."""
    leave = (
        "import ctypes, json, os\n"
        "wrote = []\n"
        "for path in ('/opt/grader-site/csv.py', '/x', '/dev/x', '/etc/ld.so.preload'):\n"
        "    try:\n"
        "        open(path, 'w').write('import sys')\n"
        "        wrote.append(path)\n"
        "    except OSError:\n"
        "        pass\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "key = libc.syscall(248, b'user', b'stash', b'answers', 7, -4)\n"
        "print(json.dumps([wrote, key, ctypes.get_errno()]))"
    )
    first = _student(tmp_path, "ada")
    [said] = _run(first, WHO + "\n" + leave)
    who, rest = said.split("\n", 1)
    wrote, key, errno = json.loads(rest)
    assert who == "grader_zygote" and wrote == [] and key == -1 and errno == 1  # EPERM
    [found] = _run(
        _student(tmp_path, "bob"),
        "import os; print([p for p in ('/opt/grader-site/csv.py', '/x', '/dev/x') if os.path.exists(p)])",
    )
    assert found.strip() == "[]"


def test_a_checkout_under_tmp_stays_visible_and_read_only(tmp_path, fresh, monkeypatch):
    """The kernel's new /tmp would hide the course when it is checked out under /tmp (as
    CI's clone is): the keeper binds the read-only folders there back, read-only."""
    import tempfile

    checkout = Path(tempfile.mkdtemp(prefix="checkout-", dir="/tmp"))
    try:
        (checkout / "lesson.txt").write_text("from the course")
        checkout.chmod(0o755)
        plain = zygote.course_readonly
        monkeypatch.setattr(zygote, "course_readonly", lambda: (*plain(), checkout))
        from grader.sandbox import bwrap

        monkeypatch.setattr(bwrap, "course_readonly", lambda: (*plain(), checkout))
        [said] = _run(
            _student(tmp_path, "ada"),
            WHO + "\n"
            f"print(open('{checkout}/lesson.txt').read())\n"
            "try:\n"
            f"    open('{checkout}/mine.txt', 'w')\n"
            "    print('wrote')\n"
            "except OSError as e:\n"
            "    print(e.errno)",
        )
        assert said.split("\n")[:3] == ["grader_zygote", "from the course", "30"]  # EROFS
    finally:
        import shutil

        shutil.rmtree(checkout, ignore_errors=True)


def test_a_notebook_draws_in_a_forked_kernel_as_in_a_cold_one(tmp_path, fresh, monkeypatch):
    """A forked kernel gets the backend a cold one reads from its environment at import, and
    its figures as outputs (a zygote that imported matplotlib first would not)."""
    from grader.sandbox.kernel import SandboxExecute

    draw = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import matplotlib\nprint(matplotlib.get_backend())"),
            nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);"),
            nbformat.v4.new_code_cell(WHO),
        ]
    )

    monkeypatch.delenv("MPLBACKEND", raising=False)  # a judge made in this process sets it

    def run(name: str) -> tuple[str, list[str], str]:
        folder = _student(tmp_path, name)
        executed, _ = SandboxExecute(timeout=60, allow_errors=True).preprocess(
            draw, {"metadata": {"path": str(folder)}}
        )
        backend, figure, who = (cell.outputs for cell in executed.cells)
        kinds = sorted(kind for out in figure for kind in out.get("data", {}))
        return backend[0]["text"].strip(), kinds, who[0]["text"].strip()

    warm = run("warm")
    monkeypatch.setenv(zygote.ENV_SWITCH, "0")
    cold = run("cold")
    assert (warm[2], cold[2]) == ("grader_zygote", "bwrap")
    assert warm[:2] == cold[:2], (warm, cold)
    assert "inline" in warm[0] and "image/png" in warm[1]
