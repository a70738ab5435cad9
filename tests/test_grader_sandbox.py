"""The grading sandbox's pieces: the environment, the network guard, the progress line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

from grader.progress import Progress
from grader.sandbox import SITE_DIR, scrub_env


def test_scrub_env_keeps_the_basics_and_drops_secrets():
    env = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_PROFILE": "prod",
        "GITHUB_TOKEN": "x",
        "MY_API_KEY": "x",
        "DB_PASSWORD": "x",
        "AUTHLAB_AWS": "local",
        "RANDOM_THING": "x",
        "JPY_PARENT_PID": "1",
    }
    clean = scrub_env(env, home="/tmp/h", memory_mb=512)
    assert clean["PATH"] == "/usr/bin" and clean["LANG"] == "C.UTF-8"
    assert clean["AUTHLAB_AWS"] == "local" and clean["JPY_PARENT_PID"] == "1"
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GITHUB_TOKEN", "MY_API_KEY"):
        assert name not in clean
    assert "DB_PASSWORD" not in clean and "RANDOM_THING" not in clean
    assert clean["HOME"] == "/tmp/h" and clean["GRADER_MEMORY_MB"] == "512"
    assert clean["PYTHONPATH"] == str(SITE_DIR) and clean["GRADER_SANDBOX"] == "1"


# The guard is loaded over recorders standing in for the real socket calls, so nothing here
# ever leaves the machine, whether the guard works or not.
_PROBE = textwrap.dedent(
    """
    import importlib.util, json, socket, sys
    calls = []
    socket.getaddrinfo = lambda host, *a, **k: calls.append(("dns", host)) or []
    socket.socket.connect = lambda self, address: calls.append(("connect", address[0]))
    spec = importlib.util.spec_from_file_location("guard", sys.argv[1])
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    outcome = {}
    for host in ("192.0.2.1", "0.0.0.0", "127.0.0.1", "::1", "localhost"):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            sock.connect((host, 9))
            outcome[host] = "allowed"
        except OSError:
            outcome[host] = "refused"
        finally:
            sock.close()
    try:
        socket.getaddrinfo("example.com", 80)
        outcome["dns"] = "allowed"
    except socket.gaierror:
        outcome["dns"] = "refused"
    print(json.dumps({"outcome": outcome, "calls": calls}))
    """
)


def test_network_guard_allows_only_loopback():
    env = {**os.environ, "GRADER_SANDBOX": "1", "GRADER_NETWORK": "loopback"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(SITE_DIR / "sitecustomize.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    seen = json.loads(done.stdout)
    assert seen["outcome"] == {
        "192.0.2.1": "refused",
        "0.0.0.0": "refused",
        "127.0.0.1": "allowed",
        "::1": "allowed",
        "localhost": "allowed",
        "dns": "refused",
    }
    assert all(host in {"127.0.0.1", "::1", "localhost"} for _, host in seen["calls"])


def test_memory_limit_is_set_in_sandboxed_pythons():
    env = {**os.environ, "GRADER_SANDBOX": "1", "GRADER_MEMORY_MB": "700"}
    env["PYTHONPATH"] = str(SITE_DIR)
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "700"


def test_progress_line_counts_and_estimates():
    stream = io.StringIO()
    bar = Progress(4, label="grading ", stream=stream, every=0)
    assert "0/4" in bar.line() and "ETA --:--" in bar.line()
    bar.advance(note="s1/01")
    bar.advance(3)
    text = stream.getvalue()
    assert "1/4" in text and "s1/01" in text and "4/4 100%" in text
