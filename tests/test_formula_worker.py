"""The formula field made in a worker process while the writer segments posts (index/lexical.py):
the same text as made in-process, in order, and made in-process when the worker fails."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import index.lexical as lexical
from corpus.post import Post
from corpus.readers import read_source
from index.formula import body_tokens
from index.indexer import update
from index.paths import DataDir
from search import Searcher
from tests.conftest import FIXTURE_POSTS

FORMULAS = "设 $x_{i}^2 + \\frac{{a}}{{b_{i}}}$ 与 $$e^{{i{i}\\theta}}$$。"
MANY = [Post(id=900 + i, title=f"公式 {i}", body=FORMULAS.format(i=i)) for i in range(9)]
MANY.append(Post(id=990, title="没有公式", body="纯文本。"))


@pytest.fixture
def small_worker(monkeypatch):
    """The worker from the third post on, two posts a task (the fixtures are few)."""
    monkeypatch.setattr(lexical, "FORMULA_WORKER_FROM", 3)
    monkeypatch.setattr(lexical, "FORMULA_BATCH", 2)
    monkeypatch.setattr(lexical.os, "cpu_count", lambda: 2)


def test_the_worker_makes_each_posts_field_in_order(small_worker):
    """While the worker starts, the writer makes the first batches itself (None); once it has
    started, the worker's texts are the writer's own, in order."""
    made = lexical._with_formula_fields(iter(MANY))
    first = next(made)
    time.sleep(5)  # the worker starts (spawn, imports) in well under a second
    made = [first, *made]
    assert [post.id for post, _ in made] == [post.id for post in MANY]
    assert made[0][1] is None  # the first batch did not wait for the worker
    assert made[-1][1] is not None  # the last ones came from it
    for post, text in made:  # the same tokens (their order in the field never counts)
        assert text is None or sorted(text.split()) == sorted(body_tokens(post.body))


def test_few_posts_need_no_worker(monkeypatch):
    def no_pool(*args, **kw):
        raise AssertionError("a worker for two posts")

    monkeypatch.setattr(lexical, "ProcessPoolExecutor", no_pool)
    made = list(lexical._with_formula_fields(MANY[:2]))
    assert [(post.id, text) for post, text in made] == [(900, None), (901, None)]


def test_a_failing_worker_leaves_the_fields_to_the_writer(small_worker, monkeypatch):
    class Broken(concurrent.futures.ProcessPoolExecutor):
        def submit(self, fn, *args, **kw):
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_exception(concurrent.futures.process.BrokenProcessPool("killed"))
            return future

    monkeypatch.setattr(lexical, "ProcessPoolExecutor", Broken)
    made = list(lexical._with_formula_fields(MANY))
    assert [post.id for post, _ in made] == [post.id for post in MANY]
    assert all(text is None for _, text in made)


def test_an_index_built_with_the_worker_answers_as_one_built_without(small_worker, tmp_path):
    posts = [p for p in read_source(FIXTURE_POSTS) if isinstance(p, Post)] + MANY
    with_worker = DataDir(tmp_path / "worker")
    update(with_worker, posts, vectors=False)
    lexical.FORMULA_WORKER_FROM = 10**9
    without = DataDir(tmp_path / "in-process")
    update(without, posts, vectors=False)
    queries = ["$e^{i\\theta}$", "\\frac{a}{b}", "x^2", "公式 $x_3^2$"]
    with Searcher.open(with_worker.root) as one, Searcher.open(without.root) as other:
        for q in queries:
            a, b = one.search(q, mode="lexical"), other.search(q, mode="lexical")
            assert len(a) > 0, q
            assert [(h.post_id, h.score) for h in a] == [(h.post_id, h.score) for h in b], q


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_ctrl_c_while_the_worker_runs_prints_no_traceback(tmp_path):
    """Ctrl-C reaches the whole process group: the worker must leave it to the writer."""
    posts = tmp_path / "posts.jsonl"
    with posts.open("w", encoding="utf-8") as out:
        for i in range(6000):
            body = "梯度下降，" * 60 + f" $x_{{{i}}}^2 + \\frac{{a}}{{b}}$ " + "注意力 " * 40
            row = {"id": 10_000 + i, "title": f"第{i}篇", "body": body, "url": f"https://e.org/{i}"}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "search.cli", "--data-dir", str(data), "index", "--no-vectors"]
    run = subprocess.Popen(
        [*cmd, str(posts)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _children(run.pid) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.poll() is None, "indexing ended before its worker started"
    time.sleep(0.5)  # the worker has imported and is making fields
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "Traceback" not in err, err
    again = subprocess.run([*cmd, str(posts)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    with Searcher.open(data) as s:
        assert s.stats()["lexical_docs"] == 6000
