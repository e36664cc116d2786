from corpus.post import Post
from index.chunking import MAX_CHARS, chunk_post


def make(body: str) -> Post:
    return Post(id=1, title="标题", body=body)


def test_passages_carry_the_title_and_point_into_the_body():
    body = "\n\n".join(f"第{i}段，" + "内容" * 60 for i in range(8))
    post = make(body)
    passages = chunk_post(post)
    assert len(passages) > 1
    for p in passages:
        assert p.text.startswith("标题\n")
        assert p.text[len("标题\n") :] == body[p.start : p.end].strip()
        assert p.end - p.start <= MAX_CHARS
    assert [p.ord for p in passages] == list(range(len(passages)))


def test_display_math_is_not_cut():
    math = "$$\nf(x) = \\sum_i a_i\n\n\\quad + \\int_0^1 g(t)\\,dt\n$$"
    body = "前言。" * 50 + "\n\n" + math + "\n\n" + "后记。" * 50
    for p in chunk_post(make(body)):
        assert p.text.count("$$") % 2 == 0
    env = "\\begin{equation}\na\n\nb\n\\end{equation}"
    passages = chunk_post(make("说明：\n\n" + env + "\n\n结尾。"))
    assert any(env in p.text for p in passages)


def test_headings_start_new_passages():
    body = "## 第一节\n\n" + "甲" * 100 + "\n\n## 第二节\n\n" + "乙" * 100
    passages = chunk_post(make(body))
    assert [p.text.split("\n")[1] for p in passages] == ["## 第一节", "## 第二节"]


def test_a_long_paragraph_is_cut_at_sentence_ends():
    body = "这是一句话。" * 300
    passages = chunk_post(make(body))
    assert len(passages) > 2
    assert all(p.text.endswith("。") for p in passages)


def test_empty_and_whitespace_bodies():
    assert len(chunk_post(make(""))) == 1
    assert len(chunk_post(make("  \n\n  "))) == 1


def test_same_text_same_hash():
    a, b = chunk_post(make("一样的内容")), chunk_post(make("一样的内容"))
    assert a[0].hash == b[0].hash
    assert chunk_post(make("不一样"))[0].hash != a[0].hash
