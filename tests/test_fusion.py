from search.fusion import FusionPolicy, RankedList, fuse_convex, fuse_rrf


def test_rrf_rewards_agreement():
    lexical = [(1, 9.0), (2, 8.0), (3, 7.0)]
    semantic = [(3, 0.9), (1, 0.8), (4, 0.7)]
    fused = [d for d, _ in fuse_rrf([(lexical, 1.0), (semantic, 1.0)], k=60)]
    assert fused[:2] == [1, 3]
    assert set(fused) == {1, 2, 3, 4}
    score = dict(fuse_rrf([(lexical, 1.0), (semantic, 1.0)], k=60))
    assert abs(score[1] - (1 / 61 + 1 / 62)) < 1e-12


def test_convex_keeps_score_gaps():
    lexical = [(1, 30.0), (2, 3.0), (3, 2.9), (4, 2.0)]
    semantic = [(2, 0.86), (3, 0.85), (1, 0.84), (4, 0.70)]

    def convex(alpha):
        return fuse_convex([(semantic, alpha), (lexical, 1 - alpha)])

    assert convex(0.5)[0][0] == 1  # a clear lexical winner stays
    assert convex(1.0)[0][0] == 2
    assert convex(0.0)[0][0] == 1


def test_convex_with_missing_and_empty_lists():
    assert fuse_convex([([], 0.5), ([(5, 0.9)], 0.5)]) == [(5, 0.5)]
    assert sorted(fuse_convex([([(5, 1.0), (6, 1.0)], 0.5), ([], 0.5)])) == [(5, 0.5), (6, 0.5)]
    fused = dict(fuse_convex([([(1, 2.0), (2, 1.0)], 0.5), ([(2, 0.9), (3, 0.8)], 0.5)]))
    assert fused == {1: 0.5, 2: 0.5, 3: 0.0}


def _lists(**named):
    return [RankedList(name.replace("_fb", "+fb"), tuple(items)) for name, items in named.items()]


def test_lists_are_weighed_by_name():
    lexical, semantic = [(1, 2.0), (2, 1.0)], [(2, 0.9), (1, 0.8)]
    feedback = [(2, 5.0), (3, 1.0)]
    policy = FusionPolicy().with_weights(bm25_fb=0.5)
    fused = dict(policy.fuse(_lists(e5=semantic, bm25=lexical, bm25_fb=feedback)))
    assert fused == {1: 0.5, 2: 1.0, 3: 0.0}
    off = FusionPolicy().with_weights(bm25_fb=0.0)
    assert dict(off.fuse(_lists(e5=semantic, bm25=lexical, bm25_fb=feedback))) == {1: 0.5, 2: 0.5}
    # beside another model's list, each list at its own weight
    lists = _lists(e5=semantic, bm25=lexical, use=[(4, 1.0), (1, 0.0)], bm25_fb=feedback)
    assert dict(policy.fuse(lists)) == {1: 0.5, 2: 1.0, 3: 0.0, 4: 0.4}
    rrf = dict(FusionPolicy(method="rrf").with_weights(bm25_fb=0.5).fuse(lists))
    assert abs(rrf[3] - 0.5 / 62) < 1e-12


def test_a_feedback_list_takes_its_models_weight_and_an_unnamed_primary_its_roles():
    policy = FusionPolicy()
    assert policy.weight("e5+fb") == policy.weight("e5") == 0.5
    assert policy.weight("use+fb") == policy.weight("use") == 0.4
    assert policy.weight("bm25+fb") == 0.3 and policy.weight("other") == 0.0
    assert policy.weight("my-model", primary=True) == policy.primary_weight
    fused = dict(policy.fuse(_lists(my_model=[(1, 1.0), (2, 0.0)]), primary="my_model"))
    assert fused == {1: 0.5, 2: 0.0}


def test_exact_matches_go_first_and_contributions_add_up():
    lists = _lists(e5=[(1, 0.9), (2, 0.8), (3, 0.7)], bm25=[(1, 9.0), (3, 1.0)])
    policy = FusionPolicy()
    fused = policy.fuse(lists, exact=frozenset({3}))
    assert [d for d, _ in fused] == [3, 1, 2]
    parts = policy.contributions(lists)
    for doc, score in fused:
        assert abs(sum(p.get(doc, 0.0) for p in parts.values()) - score) < 1e-12


def test_latin_weights_apply_to_queries_without_chinese_only():
    lexical, semantic, second = [(1, 2.0), (2, 1.0)], [(2, 0.9), (1, 0.8)], [(2, 0.9), (1, 0.1)]
    lists = _lists(e5=semantic, bm25=lexical, use=second)
    policy = FusionPolicy(latin={"use": 0.0, "bm25": 1.0})
    assert policy.for_script(True) is policy
    assert [d for d, _ in policy.for_script(True).fuse(lists)] == [2, 1]
    latin = policy.for_script(False)
    assert latin.weight("use") == 0.0 and latin.weight("e5") == 0.5
    assert [d for d, _ in latin.fuse(lists)] == [1, 2]
    assert FusionPolicy(latin={}).for_script(False) == FusionPolicy(latin={})
