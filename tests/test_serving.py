"""authlab.cloud.serving: the local servers of a process, paused before a fork and serving
again in the child, each process from its own state, on the same ports.

Each scenario runs in a fresh interpreter: a fork needs a process whose only thread is the
main one, and this one has servers and threads of other tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from authlab.cloud import serving
from authlab.cloud.aws import MotoServer
from authlab.cloud.localhttp import HttpResponse, LocalHttpServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _in_child(work) -> dict:
    """Fork; in the child, resume the servers, run ``work()`` and send back its result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read)
            serving.resume()
            said = json.dumps({"ok": work()})
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            said = json.dumps({"error": repr(exc)})
        os.write(write, said.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        found = json.loads(pipe.read() or '{"error": "no word"}')
    os.waitpid(pid, 0)
    return found


def _in_fresh_interpreter(scenario: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import tests.test_serving as t; t.{scenario}(); print('done')"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert done.stdout.strip().endswith("done"), done.stdout + done.stderr


def test_each_process_serves_its_own_state_on_the_same_port_after_a_fork():
    _in_fresh_interpreter("_own_state_after_a_fork")


def test_a_stopped_server_is_forgotten_and_a_paused_one_stops():
    _in_fresh_interpreter("_stopped_and_paused")


def _own_state_after_a_fork():
    counts = {"n": 0}

    def count(request):
        counts["n"] += 1
        return HttpResponse.json(200, {"pid": os.getpid(), "n": counts["n"]})

    web = requests.Session()  # keeps its connections alive

    def get(url: str) -> dict:
        return web.get(url, timeout=10).json()

    with MotoServer() as aws, LocalHttpServer(count, name="counter") as local:
        dynamodb = aws.client("dynamodb")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert get(local.url)["n"] == 1  # a kept-alive connection is open in the client
        port = aws.port
        assert serving.pause()
        assert threading.active_count() == 1

        def child_work():
            dynamodb.put_item(TableName="t", Item={"k": {"S": "child"}})  # a reused client
            seen = get(local.url)
            items = dynamodb.scan(TableName="t")["Items"]
            return {"pid": seen["pid"], "n": seen["n"], "items": len(items), "port": aws.port}

        first = _in_child(child_work)
        second = _in_child(child_work)  # the next child finds the port free and no trace
        for seen in (first["ok"], second["ok"]):  # each child its own copy of the state
            assert seen["pid"] != os.getpid() and seen["n"] == 2
            assert seen["items"] == 1 and seen["port"] == port

        serving.resume()  # the parent serves again, from its own state
        assert get(local.url) == {"pid": os.getpid(), "n": 2}
        assert dynamodb.scan(TableName="t")["Items"] == []
    assert serving.serving() == []


def _stopped_and_paused():
    server = LocalHttpServer(lambda request: HttpResponse.json(200, {}), name="x").start()
    assert len(serving.serving()) == 1
    assert serving.pause()
    server.stop()  # paused: no thread to wait for
    assert serving.serving() == [] and not server.running
