"""The `search` command end to end, in subprocesses like a user would run it."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from index.indexer import Indexer
from index.paths import DataDir
from tests.conftest import FIXTURE_POSTS, FIXTURES


def run(*args, data=None, env=None, input=None):
    cmd = [sys.executable, "-m", "search.cli"]
    if data is not None:
        cmd += ["--data-dir", str(data)]
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        cmd + list(args), capture_output=True, text=True, env=full_env, input=input, timeout=120
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-data")
    result = run("index", "--no-vectors", str(FIXTURE_POSTS), data=root)
    assert result.returncode == 0, result.stderr
    return root


def test_index_summary_then_nothing_to_do(tmp_path):
    first = run("index", "--no-vectors", str(FIXTURE_POSTS), data=tmp_path)
    assert first.returncode == 0
    assert "18 new" in first.stderr
    again = run("index", "--no-vectors", str(FIXTURE_POSTS), data=tmp_path)
    assert again.returncode == 0 and "Nothing to do: 18 posts unchanged" in again.stderr
    as_json = json.loads(
        run("index", "--no-vectors", "--json", str(FIXTURE_POSTS), data=tmp_path).stdout
    )
    assert as_json["unchanged"] == 18 and as_json["new"] == 0


def test_index_folders_of_markdown_and_html(tmp_path):
    result = run(
        "index", "--json", str(FIXTURES / "markdown"), str(FIXTURES / "html"), data=tmp_path
    )
    summary = json.loads(result.stdout)
    assert summary["new"] >= 6
    assert len(summary["problems"]) == 2  # the markdown file without a title, the non-post page
    assert result.returncode == 0


def test_malformed_lines_are_reported_with_line_numbers(tmp_path):
    src = tmp_path / "mixed.jsonl"
    good = FIXTURE_POSTS.read_text(encoding="utf-8").splitlines()[0]
    src.write_text(good + "\n{not json\n" + json.dumps({"id": 7}) + "\n", encoding="utf-8")
    result = run("index", "--no-vectors", str(src), data=tmp_path / "d")
    assert result.returncode == 0
    assert f"{src}:2: malformed JSON" in result.stderr
    assert f"{src}:3: missing or empty 'title'" in result.stderr
    strict = run("index", "--no-vectors", "--strict", str(src), data=tmp_path / "d2")
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert strict.stderr.count("\n") == 1


def test_query_human_output(data):
    result = run("query", "RoPE 外推", "--mode", "lexical", data=data)
    assert result.returncode == 0
    assert " 1. 旋转位置编码RoPE的长度外推" in result.stdout
    assert "https://kexue.fm/archives/1001" in result.stdout
    assert "2023-03-10 · 信息时代" in result.stdout


def test_query_json_contract(data):
    result = run("query", "扩散", "--json", "--mode", "lexical", "--limit", "2", data=data)
    hits = json.loads(result.stdout)
    assert len(hits) == 2
    assert set(hits[0]) >= {"post_id", "title", "url", "date", "score", "snippet"}
    assert {h["post_id"] for h in hits} == {1005, 1006}
    snippet = hits[0]["snippet"]
    assert all(snippet["text"][s:e] == "扩散" for s, e in snippet["highlights"])


def test_query_filters_as_options(data):
    result = run("query", "概率", "--json", "--mode", "lexical", "--tag", "几何", data=data)
    assert [h["post_id"] for h in json.loads(result.stdout)] == [1013]
    result = run("query", "模型", "--json", "--mode", "lexical", "--year", "2022", data=data)
    assert {h["date"][:4] for h in json.loads(result.stdout)} == {"2022"}


def test_explain_shows_ranks(data):
    result = run("query", "RoPE", "--mode", "lexical", "--explain", "--json", data=data)
    assert json.loads(result.stdout)[0]["explain"]["lexical_rank"] == 1


def test_exit_codes(data, tmp_path):
    none = run("query", "量子引力弦论", "--mode", "lexical", data=data)
    assert none.returncode == 1 and "No results" in none.stderr
    empty_json = run("query", "量子引力弦论", "--mode", "lexical", "--json", data=data)
    assert empty_json.returncode == 1 and json.loads(empty_json.stdout) == []
    bad = run("query", "since:2022-13-01", data=data)
    assert bad.returncode == 2 and bad.stderr.strip() == "search: bad date '2022-13-01'"
    usage = run("query", "x", "--mode", "fuzzy", data=data)
    assert usage.returncode == 2
    missing = run("query", "x", data=tmp_path / "nowhere")
    assert missing.returncode == 2 and "search index SOURCE" in missing.stderr
    assert missing.stderr.startswith("search: no index at ")
    assert "Traceback" not in missing.stderr + bad.stderr + usage.stderr


def test_corrupt_index_is_one_line(tmp_path):
    (tmp_path / "store.sqlite").write_bytes(b"garbage" * 50)
    result = run("query", "x", data=tmp_path)
    assert result.returncode == 2 and "unreadable" in result.stderr
    assert result.stderr.count("\n") == 1


def test_second_writer_is_refused(tmp_path):
    with Indexer(DataDir(tmp_path)):
        result = run("index", "--no-vectors", str(FIXTURE_POSTS), data=tmp_path)
    assert result.returncode == 2
    assert "another process is writing" in result.stderr
    assert result.stderr.strip().endswith("wait for it to finish")


def test_data_dir_from_environment(data):
    result = run(
        "query", "鸭子", "--json", "--mode", "lexical", env={"KEXUE_SEARCH_DATA": str(data)}
    )
    assert json.loads(result.stdout)[0]["post_id"] == 1013


def test_show_and_stats(data):
    raw = run("show", "1018", data=data)
    assert raw.returncode == 0
    assert "# Softmax的数值稳定计算" in raw.stdout
    assert "\\text{logsumexp}(x)=\\log\\sum_{i=1}^n e^{x_i}" in raw.stdout
    assert run("show", "4242", data=data).returncode == 1
    post = json.loads(run("show", "1018", "--json", data=data).stdout)
    assert post["tags"] == ["Softmax函数", "数值计算"]
    stats = json.loads(run("stats", "--json", data=data).stdout)
    assert stats["posts"] == 18 and stats["first_post"] == "2010-04-05"


def test_lexical_query_never_imports_torch(data):
    code = textwrap.dedent(
        f"""
        import sys
        from search.cli import main
        sys.argv = ["search", "--data-dir", {str(data)!r}, "query", "RoPE", "--mode", "lexical"]
        try:
            main()
        except SystemExit:
            pass
        heavy = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_eval_command(data, tmp_path):
    judged = tmp_path / "judged.jsonl"
    rows = [
        {"qid": "t1", "query": "RoPE 外推", "type": "keyword", "relevant": {"1001": 2, "1002": 1}},
        {"qid": "t2", "query": "鸭子 半圆", "type": "paraphrase", "relevant": {"1013": 2}},
        {"qid": "t3", "query": "量子引力弦论", "type": "keyword", "relevant": {"1016": 2}},
    ]
    judged.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = run("eval", str(judged), "--mode", "lexical", "--json", data=data)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["lexical"]
    assert report["overall"]["mrr@10"] == pytest.approx(2 / 3)  # t3 finds nothing
    assert report["by_type"]["paraphrase"]["ndcg@10"] == 1.0
    table = run("eval", str(judged), "--mode", "lexical", data=data)
    assert "keyword" in table.stdout and "0.667" in table.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    failed = run("eval", str(bad), data=data)
    assert failed.returncode == 2 and "bad.jsonl:1" in failed.stderr
