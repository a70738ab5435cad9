"""A term on one JupyterHub, in Chromium: release, fetch, validate, submit, collect, grade, feedback.

One hub (``hub/run.py``, what `make hub` runs) serves the whole module, on a free port of
127.0.0.1, with its own demo users (``authlab-e2e-teacher``, ``…student1``, ``…student2``). As root
each is a system user and the hub's local process spawner starts each server as that user, so the
file permissions are real; without root this module is skipped (`make hub` then runs every server
as one user, which shows the screens but not the separation). The steps, in order:

1. the instructor releases 01 from formgrader (a button);
2. student A fetches it in *Nbgrader > Assignment List*, answers (the perfect sample's answers, put
   into the fetched notebook through A's own server), presses **Validate**, and submits; A's menu
   has no Formgrader;
3. student B fetches and submits a notebook whose answer tries to read A's work and the
   instructor's solutions; as B's uid, those files cannot be opened (permissions, not the sandbox);
4. the instructor collects (a button), runs ``python -m grader autograde`` and ``python -m grader
   feedback`` as the instructor's user in the instructor's server's environment (what a terminal
   in the instructor's lab runs), and releases feedback (a button);
5. A fetches the feedback and opens the page; no hidden test is anywhere in A's or B's files;
6. A runs a notebook that starts the mini project's local AWS and gateway and signs in on its
   sign-in page through the hub (``/user/<A>/proxy/<port>/``).

Screenshots: ``build/e2e/hub-*.png``.
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import requests

from ..conftest import ROOT
from .conftest import free_port, wait_for_http

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="a hub with a system user per person needs root"),
]

NB = "01-sessions-vs-tokens"
PREFIX = "authlab-e2e-"
HUB_ROOT = Path("/srv/authlab-hub-e2e")  # readable by the demo users (a pytest tmp dir is not)
MARKER = "BEGIN HIDDEN TESTS"


@dataclass
class Hub:
    url: str
    root: Path
    teacher: str
    students: list[str]
    passwords: dict[str, str]
    proc: subprocess.Popen

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    """`make hub`'s hub with one instructor and two students, stopped (and cleaned) at the end."""
    started = time.monotonic()
    port = free_port()
    (ROOT / "build" / "e2e").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "build" / "e2e" / "hub.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "hub" / "run.py"),
            "--port",
            str(port),
            "--students",
            "2",
            "--prefix",
            PREFIX,
            "--root",
            str(HUB_ROOT),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        health = f"http://127.0.0.1:{port}/hub/health"
        wait_for_http(health, proc=proc, seconds=600, what="hub")
        # The proxy answers 404 until the hub has added its route: wait for the hub itself.
        wait_for(lambda: requests.get(health, timeout=5).status_code == 200, "the hub", 60)
        logins = json.loads((HUB_ROOT / "logins.json").read_text())
        print(f"[hub e2e] the hub is up: {time.monotonic() - started:.1f} s", flush=True)
        yield Hub(
            url=logins["url"],
            root=HUB_ROOT,
            teacher=logins["instructor"],
            students=[n for n in logins["logins"] if n != logins["instructor"]],
            passwords=logins["logins"],
            proc=proc,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    # make hub cleans up what it made: the demo users, their homes and its folder.
    assert not [u.pw_name for u in pwd.getpwall() if u.pw_name.startswith(PREFIX)]
    assert not HUB_ROOT.exists()


def start_sign_in(browser, hub: Hub, name: str):
    """A browser tab of its own that signs in as ``name``: the hub starts that user's server
    while the test goes on (``finish_sign_in`` waits for it), so servers start side by side."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", hub.passwords[name])
    page.click("#login_submit")
    return page


def finish_sign_in(page, name: str):
    """``page`` once it shows ``name``'s JupyterLab with its Nbgrader menu."""
    page.wait_for_url(re.compile(rf"/user/{name}/lab"), timeout=180_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for()
    return page


def sign_in(browser, hub: Hub, name: str):
    """A browser tab of its own, signed in to the hub as ``name``, on that user's JupyterLab."""
    return finish_sign_in(start_sign_in(browser, hub, name), name)


def put_notebook(page, hub: Hub, name: str, path: str, notebook) -> None:
    """Save ``notebook`` at ``path`` in ``name``'s server, as that user's JupyterLab does."""
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    response = page.request.put(
        f"{hub.url}/user/{name}/api/contents/{path}",
        data=json.dumps({"type": "notebook", "format": "json", "content": notebook}),
        headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
    )
    assert response.ok, response.text()


def assignments_panel(page):
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    page.get_by_role("menuitem", name="Assignment List").click()
    page.locator("#released_assignments_list").wait_for()
    return items


def fetch(page) -> None:
    released = page.locator("#released_assignments_list")
    released.get_by_text(NB).first.wait_for()
    released.get_by_role("button", name="Fetch").click()
    page.locator("#fetched_assignments_list").get_by_text(NB).first.wait_for()


def submit(page) -> None:
    page.locator("#fetched_assignments_list").get_by_role("button", name="Submit").first.click()
    page.locator("#submitted_assignments_list").get_by_text(NB).first.wait_for()


def formgrader_row(page, hub: Hub):
    page.goto(f"{hub.url}/user/{hub.teacher}/formgrader")
    row = page.locator(f"#main-table tr:has(td.name[data-order='{NB}'])")
    row.wait_for()
    return row


class Steps:
    """Each step's time since the last, printed (pytest shows it with -s or on a failure)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        print(f"[hub e2e] {name}: {now - self.last:.1f} s", flush=True)
        self.last = now


def wait_for(predicate, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.5)


def as_instructor(hub: Hub, *command: str) -> subprocess.CompletedProcess:
    """Run ``command`` as the instructor, in the instructor's server's environment (a terminal
    in the instructor's lab has this one), in the course folder (the instructor's home)."""
    pid = subprocess.run(
        ["pgrep", "-u", hub.teacher, "-f", "jupyterhub-singleuser"], capture_output=True, text=True
    ).stdout.split()[0]
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    return subprocess.run(
        list(command),
        cwd=hub.home(hub.teacher),
        env=env,
        user=hub.teacher,
        group=pwd.getpwnam(hub.teacher).pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
    )


def answer_lines(notebook) -> list[str]:
    """The lines of ``notebook``'s answer cells that the blank notebook does not hold."""
    blank = nbformat.read(ROOT / "notebooks" / NB / f"{NB}.ipynb", as_version=4)
    seen = "\n".join(c.source for c in blank.cells)
    return [
        line.strip()
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
        for line in cell.source.splitlines()
        if len(line.strip()) >= 20 and line.strip() not in seen
    ]


def hidden_lines() -> list[str]:
    source = nbformat.read(ROOT / "solutions" / NB / f"{NB}.ipynb", as_version=4)
    blank = nbformat.read(ROOT / "notebooks" / NB / f"{NB}.ipynb", as_version=4)
    seen = "\n".join(c.source for c in blank.cells)
    lines = []
    for cell in source.cells:
        for block in re.findall(
            r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S
        ):
            lines += [x.strip() for x in block.splitlines() if len(x.strip()) >= 16]
    return [line for line in lines if line not in seen]


ATTACK = """\
# Student B's "answer": read A's work and the instructor's solutions.
import glob, os
stolen = dict()
for pattern in ("/home/{a}/**/*.ipynb", "/home/{t}/solutions/**/*.ipynb", "{checkout}/solutions/**/*.ipynb",
                "{exchange}/*/inbound/*/*.ipynb"):
    for path in glob.glob(pattern, recursive=True):
        try:
            stolen[path] = open(path).read()[:200]
        except OSError as exc:
            stolen[path] = type(exc).__name__
print("STOLEN", stolen)
"""

READ_AS_B = """
import json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            out[path] = os.listdir(path)
        else:
            out[path] = open(path).read()[:80]
    except OSError as exc:
        out[path] = type(exc).__name__
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tabs() -> dict:
    """Each user's signed-in tab, kept for the module's next test (one sign-in per user)."""
    return {}


def test_a_term_on_the_hub(browser, hub: Hub, tabs: dict, screenshot_dir):
    a, b = hub.students
    teacher_home = hub.home(hub.teacher)
    exchange = hub.root / "exchange"
    assert exchange.stat().st_mode & 0o7777 == 0o1777

    step = Steps()
    # Everyone signs in at once: the hub starts the three servers side by side.
    pages = {name: start_sign_in(browser, hub, name) for name in (hub.teacher, a, b)}
    # 1. The instructor releases 01 from formgrader.
    teacher = finish_sign_in(pages[hub.teacher], hub.teacher)
    row = formgrader_row(teacher, hub)
    row.locator("td.release a").click()
    wait_for(lambda: (exchange / "serverless-auth-lab" / "outbound" / NB).is_dir(), "release")
    teacher.screenshot(path=screenshot_dir / "hub-formgrader-released.png")
    step("1 teacher signs in, releases")

    # 2. Student A: no Formgrader in the menu; fetch, answer, Validate, submit.
    page_a = tabs[a] = finish_sign_in(pages[a], a)
    step("2 A signs in")
    menu = assignments_panel(page_a)
    assert "Assignment List" in menu and "Formgrader" not in menu and "Course List" not in menu, (
        menu
    )
    assert page_a.request.get(f"{hub.url}/user/{a}/formgrader").status == 404
    fetch(page_a)
    perfect = nbformat.read(
        ROOT / "data" / "submissions" / "perfect" / NB / f"{NB}.ipynb", as_version=4
    )
    put_notebook(page_a, hub, a, f"{NB}/{NB}.ipynb", perfect)
    page_a.goto(f"{hub.url}/user/{a}/lab/tree/{NB}/{NB}.ipynb")
    page_a.locator(".validate-button").first.click()
    page_a.get_by_text("Success! Your notebook passes all the tests.").wait_for(timeout=180_000)
    step("2 A fetches, answers, validates")
    page_a.screenshot(path=screenshot_dir / "hub-student-validated.png")
    page_a.keyboard.press("Escape")
    assignments_panel(page_a)
    submit(page_a)
    step("2 A submits")

    # 3. Student B submits a notebook that tries to read A's work and the solutions.
    page_b = finish_sign_in(pages[b], b)
    step("3 B signs in")
    assignments_panel(page_b)
    fetch(page_b)
    attack = nbformat.read(ROOT / "notebooks" / NB / f"{NB}.ipynb", as_version=4)
    answer = next(c for c in attack.cells if c.metadata.get("nbgrader", {}).get("solution"))
    answer.source = ATTACK.format(a=a, t=hub.teacher, checkout=ROOT, exchange=exchange)
    put_notebook(page_b, hub, b, f"{NB}/{NB}.ipynb", attack)
    page_b.reload()
    assignments_panel(page_b)
    submit(page_b)
    step("3 B fetches, submits")
    targets = [
        str(hub.home(a)),
        str(hub.home(a) / NB / f"{NB}.ipynb"),
        str(teacher_home),
        str(teacher_home / "solutions" / NB / f"{NB}.ipynb"),
        str(ROOT / "solutions"),
        str(ROOT / "solutions" / NB / f"{NB}.ipynb"),
        str(exchange / "serverless-auth-lab" / "inbound"),
    ]
    read = subprocess.run(
        [str(Path(hub_env(hub)["venv_bin"]) / "python"), "-c", READ_AS_B, *targets],
        user=b,
        group=pwd.getpwnam(b).pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout) == dict.fromkeys(targets, "PermissionError"), read.stdout
    step("3 reads as B")

    # 4. The instructor collects, grades with the course's grader, and releases feedback.
    row = formgrader_row(teacher, hub)
    row.locator("td.collect a").click()
    submitted = teacher_home / "submitted"
    wait_for(lambda: all((submitted / s / NB / f"{NB}.ipynb").exists() for s in (a, b)), "collect")
    step("4 collect")
    graded = as_instructor(
        hub,
        "python",
        "-m",
        "grader",
        "autograde",
        "submitted",
        "--out",
        "grades.csv",
        "--jobs",
        "2",
    )
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    step("4 autograde")
    with open(teacher_home / "grades.csv", newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert (rows[a]["status"], float(rows[a]["score"])) == ("graded", 5.0), rows[a]
    assert float(rows[b]["score"]) == 0.0, rows[b]
    b_graded = (teacher_home / "autograded" / b / NB / f"{NB}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in b_graded
    assert not [line for line in answer_lines(perfect) if line in b_graded], "B got A's answers"
    feedback = as_instructor(hub, "python", "-m", "grader", "feedback")
    assert feedback.returncode == 0, feedback.stdout[-3000:] + feedback.stderr[-3000:]
    step("4 feedback")
    row = formgrader_row(teacher, hub)
    row.locator("td.release-feedback a").click()
    teacher.locator("#success-modal.in .modal-body").wait_for(timeout=120_000)
    assert "Successfully released feedback" in teacher.inner_text("#success-modal .modal-body")
    step("4 release feedback")

    # 5. A fetches the feedback and reads the page.
    page_a.goto(f"{hub.url}/user/{a}/lab")
    assignments_panel(page_a)
    page_a.get_by_role("button", name="Fetch Feedback").first.click()
    page_a.get_by_text("(view feedback)").first.wait_for()
    step("5 A fetches feedback")
    pages = sorted((hub.home(a) / NB / "feedback").rglob(f"{NB}.html"))
    assert pages, "the feedback was fetched into A's assignment folder"
    relative = pages[-1].relative_to(hub.home(a))
    page_a.goto(f"{hub.url}/user/{a}/files/{relative}")
    page_a.get_by_text("5").first.wait_for()
    page_a.screenshot(path=screenshot_dir / "hub-student-feedback.png", full_page=False)
    text = page_a.inner_text("body")
    assert "points" in text.lower() or "score" in text.lower(), text[:500]

    # No hidden test reached a student: not in their files, not in the exchange's outbound.
    hidden = hidden_lines()
    assert hidden
    for folder in (hub.home(a), hub.home(b), exchange / "serverless-auth-lab" / "outbound"):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".ipynb", ".html", ".py", ".txt", ".json"):
                text = path.read_text(errors="replace")
                assert MARKER not in text, path
                assert not [line for line in hidden if line in text], path
    step("5 feedback page, no hidden test")


def test_a_student_signs_in_on_the_mini_projects_page_through_the_hub(
    browser, hub, tabs: dict, screenshot_dir
):
    """6. A runs notebook 05's servers in a kernel and signs in on its page through the hub."""
    a = hub.students[0]
    step = Steps()
    page = tabs.get(a) or sign_in(browser, hub, a)  # the term's tab, when that test ran
    step("6 A signs in")
    signin_demo(page, hub, a, screenshot_dir)
    step("6 the sign-in page through the hub")


def hub_env(hub: Hub) -> dict:
    return json.loads((hub.root / "state" / "hub.json").read_text())


SIGNIN_CELL = """\
from authlab.cloud.aws import MotoServer
from authlab.cloud.cognito import create_demo_pool
from authlab.cloud.gateway import Gateway
from authlab.cloud.signin import signin_link

aws = MotoServer().start()
cognito, apigw = aws.client("cognito-idp"), aws.client("apigatewayv2")
pool = create_demo_pool(cognito, endpoint_url=aws.endpoint_url)
api = apigw.create_api(Name="notes", ProtocolType="HTTP")["ApiId"]
authorizer = apigw.create_authorizer(
    ApiId=api, Name="cognito", AuthorizerType="JWT",
    IdentitySource=["$request.header.Authorization"],
    JwtConfiguration={"Issuer": pool.issuer, "Audience": [pool.client_id]},
)["AuthorizerId"]
integration = apigw.create_integration(
    ApiId=api, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
    IntegrationUri="arn:aws:lambda:us-east-1:123456789012:function:notes",
)["IntegrationId"]
apigw.create_route(ApiId=api, RouteKey="GET /notes", AuthorizationType="JWT",
                   AuthorizerId=authorizer, Target=f"integrations/{integration}")
gateway = Gateway(
    api, apigw=apigw, jwks_urls={pool.issuer: pool.jwks_url},
    handlers={"notes": lambda event, context: {"notes": ["through the hub"]}},
).start()
print("PASSWORD", pool.user("alice").password)
signin_link(gateway.url, aws.endpoint_url, pool.client_id, username="alice")
"""


def signin_demo(page, hub: Hub, name: str, screenshot_dir: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SIGNIN_CELL)]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    put_notebook(page, hub, name, "signin-demo.ipynb", nbformat.from_dict(notebook))
    page.goto(f"{hub.url}/user/{name}/lab/tree/signin-demo.ipynb?reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    # The notebook names its kernel, so JupyterLab starts it; should it ask which one, answer.
    select = page.get_by_role("button", name="Select", exact=True)
    idle = page.get_by_text(re.compile(r"\| Idle$")).first
    select.or_(idle).first.wait_for(timeout=120_000)
    if select.is_visible():
        select.click()
    idle.wait_for(timeout=120_000)
    page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
    page.keyboard.press("Shift+Enter")
    link = page.get_by_role("link", name="Open the sign-in page")
    try:
        link.wait_for(timeout=120_000)
    finally:
        page.screenshot(path=screenshot_dir / "hub-signin-notebook.png")
    href = link.get_attribute("href")
    assert href.startswith(f"/user/{name}/proxy/"), href
    password = re.search(
        r"PASSWORD (\S+)", page.locator(".jp-OutputArea").first.inner_text()
    ).group(1)
    with page.context.expect_page() as popup:
        link.click()
    signin = popup.value
    signin.locator("#signin").wait_for()
    signin.fill("#password", password)
    signin.click("#signin")
    signin.locator("#session", has_text="signed in as alice").wait_for()
    signin.click("#call-api")
    signin.get_by_text("through the hub").first.wait_for()
    signin.screenshot(path=screenshot_dir / "hub-signin-through-the-hub.png")
    # Nobody else's session reaches A's proxied servers: without A's login the hub refuses.
    anonymous = requests.get(hub.url + href, timeout=10, allow_redirects=False)
    assert anonymous.status_code in (302, 403), anonymous.status_code
