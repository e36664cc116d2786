from search.fusion import Candidates, FusionPolicy, fuse_convex, fuse_rrf


def test_rrf_rewards_agreement():
    lexical = [(1, 9.0), (2, 8.0), (3, 7.0)]
    semantic = [(3, 0.9), (1, 0.8), (4, 0.7)]
    fused = [d for d, _ in fuse_rrf([lexical, semantic], k=60)]
    assert fused[:2] == [1, 3]
    assert set(fused) == {1, 2, 3, 4}
    score = dict(fuse_rrf([lexical, semantic], k=60))
    assert abs(score[1] - (1 / 61 + 1 / 62)) < 1e-12


def test_convex_keeps_score_gaps():
    lexical = [(1, 30.0), (2, 3.0), (3, 2.9), (4, 2.0)]
    semantic = [(2, 0.86), (3, 0.85), (1, 0.84), (4, 0.70)]
    assert fuse_convex(lexical, semantic, alpha=0.5)[0][0] == 1  # a clear lexical winner stays
    assert fuse_convex(lexical, semantic, alpha=1.0)[0][0] == 2
    assert fuse_convex(lexical, semantic, alpha=0.0)[0][0] == 1


def test_convex_with_missing_and_empty_lists():
    assert fuse_convex([], [(5, 0.9)], alpha=0.5) == [(5, 0.5)]
    assert sorted(fuse_convex([(5, 1.0), (6, 1.0)], [], alpha=0.5)) == [(5, 0.5), (6, 0.5)]
    fused = dict(fuse_convex([(1, 2.0), (2, 1.0)], [(2, 0.9), (3, 0.8)], alpha=0.5))
    assert fused == {1: 0.5, 2: 0.5, 3: 0.0}


def test_the_lexical_feedback_list_joins_the_fusion_at_its_weight():
    lexical, semantic = [(1, 2.0), (2, 1.0)], [(2, 0.9), (1, 0.8)]
    feedback = [(2, 5.0), (3, 1.0)]
    fused = dict(
        FusionPolicy(lexical_feedback=0.5).fuse(lexical, semantic, lexical_feedback=feedback)
    )
    assert fused == {1: 0.5, 2: 1.0, 3: 0.0}
    off = dict(
        FusionPolicy(lexical_feedback=0.0).fuse(lexical, semantic, lexical_feedback=feedback)
    )
    assert off == {1: 0.5, 2: 0.5}  # its posts are not even candidates
    # beside an extra model's list, each list at its own weight
    extra = [[(4, 1.0), (1, 0.0)]]
    policy = FusionPolicy(extra_weights=(0.4,), lexical_feedback=0.5)
    both = dict(policy.fuse(lexical, semantic, extra=extra, lexical_feedback=feedback))
    assert both == {1: 0.5, 2: 1.0, 3: 0.0, 4: 0.4}
    rrf = dict(
        FusionPolicy(method="rrf", lexical_feedback=0.5).fuse(
            lexical, semantic, lexical_feedback=feedback
        )
    )
    assert abs(rrf[3] - 0.5 / 62) < 1e-12
    # rank() takes the list from the candidates
    found = Candidates(lexical, 2, [], 0, lexical_feedback=feedback)
    assert dict(FusionPolicy(lexical_feedback=0.5).rank(found)) == {1: 0.5, 2: 0.5, 3: 0.0}
