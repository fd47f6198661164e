import torch


def test_measure_reports_each_method_and_the_weights_it_reduces_to(load_script, small_sac):
    script = load_script("mgda_weights")
    k = 3
    batch = script.synthetic_batch(k, 8, 10, 2, seed=0)
    agent = small_sac("mean", k, obs_dim=10, act_dim=2, hidden=(16, 16))
    result = script.measure(agent, batch)
    for key in ("critic", "actor"):
        rows = result[key]
        assert len(rows) == 3 + 8
        sq = rows["loss"] ** 2
        torch.testing.assert_close(rows["mgda-ub loss+"], sq / sq.sum())  # α ∝ L²
        torch.testing.assert_close(rows["mgda-ub l2"], torch.full((k,), 1 / k, dtype=sq.dtype))
        inv = rows["‖∇_Z Lᵢ‖"] ** -2
        torch.testing.assert_close(rows["mgda-ub none"], inv / inv.sum())
        # mgda's l2 weights solve the cosine problem, so they differ from the mean here
        assert (rows["mgda l2"] - 1 / k).abs().max() > 1e-4
    table = script.table(result["critic"], ["a", "b", "c"]).splitlines()
    assert table[0] == "| | a | b | c |" and len(table) == 2 + 11
