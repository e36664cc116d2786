"""Hardening, round two (issue 23): hostile input through every reader, the CLI's exits, what
reaches a terminal, damaged and read-only data directories, unbounded resources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import run


@pytest.fixture(scope="module")
def data(fixture_data):
    return fixture_data.root


# -- item 9: the CLI never ends in exit 3 on input ---------------------------------------------
@pytest.mark.parametrize("command", ["show", "similar"])
@pytest.mark.parametrize(
    "ref",
    ["²", "①", "9" * 5000, "https://kexue.fm/archives/" + "9" * 5000, "99999999999999999999"],
)
def test_a_post_reference_that_is_no_id_is_a_usage_error(data, command, ref):
    result = run(command, ref, data=data)
    assert result.returncode == 2, result.stderr
    assert "neither a post id nor a post's URL" in result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 300


def test_a_malformed_url_to_index_is_reported_not_a_crash(tmp_path):
    result = run("index", "--no-vectors", "http://[::1", data=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "not a usable URL" in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000,
        '{"qid": "q", "query": "x", "relevant": {"1": 1e400}}',
        '{"qid": "q", "query": "x", "relevant": {"' + "9" * 5000 + '": 1}}',
    ],
)
def test_eval_on_a_hostile_query_file_is_a_data_error(data, tmp_path, line):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    result = run("eval", str(path), "--mode", "lexical", data=data)
    assert result.returncode == 2, result.stderr
    assert "not a judged query" in result.stderr and result.stderr.count("\n") == 1


def test_an_ascii_stdout_is_one_line_and_exit_2(data):
    result = run("query", "RoPE", "--mode", "lexical", data=data, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 2, result.stderr
    assert "cannot show this text" in result.stderr and "internal error" not in result.stderr


def test_a_closed_stdout_is_one_line_and_exit_2(data):
    script = 'exec "$0" -m search.cli --data-dir "$1" query RoPE --mode lexical >&-'
    result = subprocess.run(
        ["sh", "-c", script, sys.executable, str(data)],
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "standard output is closed" in result.stderr


# -- item 12: a failed write is a failure --------------------------------------------------------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_embed_to_a_full_disk_fails_and_writes_nothing_beside_it(data, tmp_path):
    result = run("embed", "RoPE", "--npy", "/dev/full", data=data)
    assert result.returncode == 2, result.stderr
    assert "No space left on device: /dev/full" in result.stderr
    assert "wrote" not in result.stderr
    assert not Path("/dev/full.npy").exists()


def test_embed_writes_the_file_it_names(data, tmp_path):
    import numpy as np

    target = tmp_path / "vectors.bin"  # no .npy suffix: the name is kept as given
    result = run("embed", "RoPE", "--npy", str(target), data=data)
    assert result.returncode == 0, result.stderr
    assert np.load(target).shape[0] == 1 and not (tmp_path / "vectors.bin.npy").exists()
