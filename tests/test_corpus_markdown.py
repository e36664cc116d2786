"""Markdown posts with front matter → Post, and folders through the reader dispatcher."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from corpus.markdown import read_markdown_file
from corpus.post import Post, Problem
from corpus.readers import read_source

FIXTURES = Path(__file__).parent / "fixtures"
MD = FIXTURES / "markdown"


def read_one(path: Path) -> Post | Problem:
    (item,) = list(read_markdown_file(path))
    return item


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_explicit_id_and_tag_list() -> None:
    post = read_one(MD / "post-with-id.md")
    assert isinstance(post, Post)
    assert post.id == 10234
    assert post.title == "注意力机制中的缩放因子：为什么是 1/√d"
    assert post.date == dt.date(2024, 5, 12)
    assert post.category == "信息时代"
    assert post.tags == ("Attention", "Transformer", "初始化")
    assert post.views == 3321
    assert post.url == "https://kexue.fm/archives/10234"
    assert post.body.startswith("在Scaled Dot-Product Attention中，我们计算\n\\begin{equation}\n")
    assert r"$\boldsymbol{q}\cdot\boldsymbol{k} = \sum_{i=1}^d q_i k_i$" in post.body
    assert "```python\nimport numpy as np\n" in post.body


def test_id_from_filename_and_comma_string_tags() -> None:
    post = read_one(MD / "8123-从泰勒展开看牛顿法.md")
    assert isinstance(post, Post)
    assert post.id == 8123
    assert post.date == dt.date(2013, 6, 30)
    assert post.tags == ("数值计算", "牛顿法", "泰勒级数")  # ASCII and full-width commas
    assert r"其中$\left\{x_n\right\}$收敛是局部的。" in post.body


def test_id_from_a_mirror_url_and_categories_list() -> None:
    post = read_one(MD / "spaces-mirror.md")
    assert isinstance(post, Post)
    assert post.id == 517
    assert post.url == "https://kexue.fm/archives/517"
    assert post.category == "物理化学"
    assert post.tags == ("光速", "历史", "1676")  # YAML reads 1676 as a number
    assert post.date == dt.date(2010, 2, 14)


def test_missing_title_is_a_problem_with_the_path() -> None:
    item = read_one(MD / "9999-untitled-draft.md")
    assert isinstance(item, Problem)
    assert item.source == str(MD / "9999-untitled-draft.md")
    assert "title" in item.message


def test_malformed_front_matter_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "1-bad.md", "---\ntitle: [unclosed\ntags: : :\n---\n正文\n")
    item = read_one(path)
    assert isinstance(item, Problem)
    assert "malformed front matter" in item.message


def test_no_id_anywhere_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.md", "---\ntitle: 随笔\nurl: https://example.org/x\n---\n正文\n")
    item = read_one(path)
    assert isinstance(item, Problem)
    assert "id" in item.message


def test_other_bad_records_are_problems(tmp_path: Path) -> None:
    cases = {
        "2-no-front-matter.md": "# 只有标题行\n\n正文\n",
        "3-bad-date.md": "---\ntitle: 日期坏了\ndate: 下周二\n---\n正文\n",
        "4-bad-id.md": "---\nid: abc\ntitle: 编号坏了\n---\n正文\n",
        "5-list.md": "---\n- a\n- b\n---\n正文\n",
    }
    for name, text in cases.items():
        assert isinstance(read_one(write(tmp_path, name, text)), Problem), name
    latin1 = tmp_path / "6-latin1.md"
    latin1.write_bytes("---\ntitle: café\n---\n".encode("latin-1"))
    assert isinstance(read_one(latin1), Problem)


def test_crlf_and_bom_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "42-windows.md"
    path.write_bytes("\ufeff---\r\ntitle: 换行\r\n---\r\n第一行$a_1$\r\n第二行\r\n".encode())
    post = read_one(path)
    assert isinstance(post, Post)
    assert (post.id, post.title, post.body) == (42, "换行", "第一行$a_1$\n第二行")


def test_read_source_on_a_folder_of_markdown_and_html(tmp_path: Path) -> None:
    shutil.copytree(MD, tmp_path / "md")
    shutil.copytree(FIXTURES / "html", tmp_path / "pages")
    items = list(read_source(tmp_path))
    posts = {i.id: i for i in items if isinstance(i, Post)}
    problems = [i for i in items if isinstance(i, Problem)]
    assert set(posts) == {10234, 8123, 517, 9901, 1207, 10555}
    assert sorted(Path(p.source).name for p in problems) == [
        "9999-untitled-draft.md",
        "category-listing.html",
    ]
    assert r"\left\{" in posts[9901].body


def test_a_note_named_only_by_its_file_links_to_the_file(tmp_path: Path) -> None:
    note = tmp_path / "900001-我的笔记.md"
    note.write_text("---\ntitle: 笔记\n---\n正文\n", encoding="utf-8")
    (tmp_path / "b.md").write_text(
        "---\ntitle: 链接\nid: 900002\nurl: https://example.org/notes/b\n---\n正文\n", "utf-8"
    )
    (tmp_path / "c.md").write_text("---\ntitle: 存档\nid: 8265\n---\n正文\n", "utf-8")
    posts = {p.id: p for p in read_source(tmp_path) if isinstance(p, Post)}
    assert posts[900001].url == note.resolve().as_uri()
    assert posts[900002].url == "https://example.org/notes/b"
    assert posts[8265].url == "https://kexue.fm/archives/8265"
