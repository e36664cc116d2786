"""Quick runs of the bench/ harnesses that prove crash safety and corruption handling (the
long runs, with their printed summaries, are `bench/kill_index.py` and
`bench/corrupt_data.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_POSTS, SHARED_CORPUS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import corrupt_data
import kill_index


def test_kill_9_at_random_moments_loses_nothing(tmp_path):
    corpus = SHARED_CORPUS if SHARED_CORPUS.exists() else FIXTURE_POSTS
    s = kill_index.run(corpus, lexical=4, embedding=0, seed=11, work=tmp_path)
    assert s.rounds == 4 and s.killed >= 2
    assert (s.lost, s.dropped, s.unsound_after_kill, s.failed_reruns) == (0, 0, [], [])


@pytest.mark.parametrize("damage", corrupt_data.DAMAGES)
def test_every_file_damaged_gives_no_traceback_and_is_restored(tmp_path, damage):
    result = corrupt_data.run(FIXTURE_POSTS, tmp_path, damages=[damage], commands="quick")
    assert result.tracebacks == [], result.tracebacks
    assert result.unrestored == [], result.unrestored


def test_hostile_posts_through_every_reader_and_command(tmp_path):
    import hostile_posts

    r = hostile_posts.fuzz_posts(tmp_path, size=20_000, hang_seconds=5, pending=False)
    assert r.read >= 25 and r.problems >= 6
    assert (r.internal_errors, r.hangs, r.escapes) == ([], [], []), r.report()


def test_the_item_1_post_freezes_nothing(tmp_path):
    """bench/bench_hostile_post.py on a 300,000-character post of unclosed \\begin{a} (the long
    run has the megabyte): commands and requests in seconds, /healthz answering throughout.
    Loose bounds (a shared machine): before the fix /search took minutes, holding the GIL."""
    import bench_hostile_post

    t = bench_hostile_post.run(tmp_path, "begin", 300_000)
    assert t.statuses["GET /search"] == 200 and t.statuses["search query"] == 0
    assert t.statuses["search show (terminal)"] == 0
    slow = {name: took for name, took in t.steps.items() if took > 5 and "format=html" not in name}
    assert not slow, slow
    assert t.healthz_ms and t.healthz_failures == 0 and max(t.healthz_ms) < 500
