"""`search query` through a running `search serve` (its Unix socket in the data directory),
end to end: real server subprocess, real models, real CLI subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search.server.local import SOCKET_NAME, ask, bind_unix
from tests.conftest import FIXTURE_POSTS

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "KEXUE_SEARCH_NO_SERVER": ""}
# Peak memory of a `search query` child, in MB, measured in a grandchild so nothing else counts.
PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr); "
    "sys.exit(r.returncode)"
)
CLI = [sys.executable, "-m", "search.cli"]


def cli(data: Path, *args: str, peak: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [*CLI, "--data-dir", str(data), "query", *args]
    if peak:
        cmd = [sys.executable, "-c", PEAK, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=180)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("socket-data")
    done = subprocess.run(
        [*CLI, "--data-dir", str(root), "index", str(FIXTURE_POSTS)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return root


def start_server(data: Path) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [*CLI, "--data-dir", str(data), "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        health = ask(data, "/healthz", {})
        if health and health.get("semantic") is True:
            return server
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not get its models ready in 120 s")


@pytest.fixture(scope="module")
def server(data):
    proc = start_server(data)
    yield proc
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


QUERIES = [
    ("attention", "-n", "3"),
    ("position encoding",),
    ("attention", "--json", "-n", "2"),
    ("gradient", "--mode", "lexical", "--jsonl"),
    ("attention", "--explain", "-n", "2"),
    ("softmax", "--mode", "semantic", "--offset", "1", "-n", "2"),
]


@pytest.mark.model
def test_query_prints_the_same_through_the_server(data, server):
    path = data / SOCKET_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # its owner only
    for args in QUERIES:
        through = cli(data, *args)
        alone = cli(data, *args, "--no-server")
        assert through.returncode == alone.returncode == 0, (args, alone.stderr)
        assert through.stdout == alone.stdout, args
        assert through.stderr == alone.stderr, args


@pytest.mark.model
def test_the_server_answers_without_the_models_loading_here(data, server):
    through = cli(data, "attention", "-n", "2", peak=True)
    alone = cli(data, "attention", "-n", "2", "--no-server", peak=True)
    through_mb = int(through.stderr.strip().splitlines()[-1])
    alone_mb = int(alone.stderr.strip().splitlines()[-1])
    assert through.stdout == alone.stdout
    assert through_mb < 150 < alone_mb  # two models loaded in-process: ~350 MB


@pytest.mark.model
def test_what_the_server_cannot_answer_is_answered_in_process(data, server):
    """Errors, empty answers and `--year` (the API has none) print exactly as in-process."""
    for args in (
        ("zzqqxx",),
        ("attention", "--since", "2024", "--until", "2020"),
        ("attention", "--year", "2020..2024"),
        ("attention", "--tag", "no-such-tag"),
    ):
        through = cli(data, *args)
        alone = cli(data, *args, "--no-server")
        assert (through.returncode, through.stdout, through.stderr) == (
            alone.returncode,
            alone.stdout,
            alone.stderr,
        ), args


@pytest.mark.model
def test_a_killed_servers_socket_breaks_nothing(data, tmp_path):
    data = Path(shutil.copytree(data, tmp_path / "data", ignore=shutil.ignore_patterns("*.sock")))
    server = start_server(data)
    path = data / SOCKET_NAME
    server.kill()  # no chance to remove its socket
    server.wait(timeout=30)
    assert path.exists()
    stale = cli(data, "attention", "-n", "2")
    alone = cli(data, "attention", "-n", "2", "--no-server")
    assert stale.returncode == 0 and (stale.stdout, stale.stderr) == (alone.stdout, alone.stderr)
    again = start_server(data)  # a new server replaces the stale file
    try:
        assert json.loads(cli(data, "attention", "--json", "-n", "1").stdout)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
    assert not path.exists()  # removed at exit


def test_a_live_socket_is_not_taken_over(tmp_path):
    first, why = bind_unix(tmp_path / SOCKET_NAME)
    assert first is not None and why is None
    try:
        second, why = bind_unix(tmp_path / SOCKET_NAME)
        assert second is None and "another server" in str(why)
    finally:
        first.close()
    third, _ = bind_unix(tmp_path / SOCKET_NAME)  # closed, the file is stale: replaced
    assert third is not None
    third.close()


def test_no_server_env_forces_in_process(tmp_path, monkeypatch):
    sock, _ = bind_unix(tmp_path / SOCKET_NAME)
    assert sock is not None
    try:
        monkeypatch.setenv("KEXUE_SEARCH_NO_SERVER", "1")
        assert ask(tmp_path, "/healthz", {}) is None
    finally:
        sock.close()
