"""shapesafe.rl against plain-python references, on hypothesis-drawn rollouts (episode
ends anywhere, batch size 1, single and vectorised environments), plus the refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from shapesafe import DtypeError, ShapeError, ShapesafeError, UsageError
from shapesafe.rl import (
    clipped_surrogate_loss,
    discounted_returns,
    double_dqn_target,
    gae,
    n_step_returns,
    polyak_update,
    q_select,
    soft_q_target,
    td_target,
    value_loss,
)

# ------------------------------------------------------------------ plain references
# One environment at a time, one step at a time, straight from the definitions.


def ref_discounted(r, term, trunc, nv, gamma):  # type: ignore[no-untyped-def]
    T = len(r)
    out = np.zeros(T)
    for t in range(T):
        g, disc, k = 0.0, 1.0, t
        while True:
            g += disc * r[k]
            disc *= gamma
            if term[k]:
                break
            if trunc[k] or k == T - 1:
                g += disc * (nv[k] if nv is not None else 0.0)
                break
            k += 1
        out[t] = g
    return out


def ref_n_step(r, nv, term, trunc, gamma, n):  # type: ignore[no-untyped-def]
    T = len(r)
    out = np.zeros(T)
    for t in range(T):
        g = 0.0
        for k in range(n):
            j = t + k
            g += gamma**k * r[j]
            if term[j]:
                break
            if trunc[j] or j == T - 1 or k == n - 1:
                g += gamma ** (k + 1) * nv[j]
                break
        out[t] = g
    return out


def ref_gae(r, v, nv, term, trunc, gamma, lam):  # type: ignore[no-untyped-def]
    T = len(r)
    adv = np.zeros(T)
    last = 0.0
    for t in reversed(range(T)):
        delta = r[t] + gamma * nv[t] * (1.0 - term[t]) - v[t]
        ended = term[t] or trunc[t]
        last = delta + gamma * lam * (0.0 if ended else 1.0) * last
        adv[t] = last
    return adv


# ------------------------------------------------------------------ strategies


@st.composite
def rollouts(draw: Any) -> dict[str, Any]:
    T = draw(st.integers(1, 10))
    batch = draw(st.sampled_from([(), (1,), (3,)]))
    shape = (T, *batch)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    p_end = draw(st.sampled_from([0.0, 0.2, 0.6]))
    term = rng.random(shape) < p_end
    trunc = (rng.random(shape) < p_end) & ~term
    return {
        "r": rng.normal(size=shape),
        "v": rng.normal(size=shape),
        "nv": rng.normal(size=shape),
        "term": term,
        "trunc": trunc,
        "gamma": draw(st.sampled_from([0.0, 0.5, 0.9, 1.0])),
        "lam": draw(st.sampled_from([0.0, 0.95, 1.0])),
        "n": draw(st.integers(1, 5)),
    }


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64 if a.dtype != bool else torch.bool)


def _per_env(fn, data: dict[str, Any], *keys: str, **kw: Any) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Apply a one-environment reference to every environment column."""
    arrays = [data[k] for k in keys]
    T = arrays[0].shape[0]
    flat = [a.reshape(T, -1) for a in arrays]
    cols = [fn(*(a[:, i] for a in flat), **kw) for i in range(flat[0].shape[1])]
    return np.stack(cols, axis=1).reshape(arrays[0].shape)


@pytest.mark.values
@given(rollouts(), st.booleans(), st.booleans())
def test_discounted_returns_match_the_reference(d: dict[str, Any], boot: bool, trunc: bool) -> None:
    truncated = d["trunc"] if trunc else np.zeros_like(d["trunc"])
    nv = d["nv"] if boot else None
    got = discounted_returns(
        _t(d["r"]),
        _t(d["term"]),
        _t(truncated) if trunc else None,
        _t(nv) if nv is not None else None,
        gamma=d["gamma"],
    )
    want = _per_env(
        lambda r, t, tr, v: ref_discounted(r, t, tr, v if boot else None, d["gamma"]),
        {**d, "trunc": truncated},
        "r",
        "term",
        "trunc",
        "nv",
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.values
@given(rollouts())
def test_n_step_returns_match_the_reference(d: dict[str, Any]) -> None:
    got = n_step_returns(
        _t(d["r"]), _t(d["nv"]), _t(d["term"]), _t(d["trunc"]), gamma=d["gamma"], n=d["n"]
    )
    want = _per_env(
        lambda r, v, t, tr: ref_n_step(r, v, t, tr, d["gamma"], d["n"]),
        d,
        "r",
        "nv",
        "term",
        "trunc",
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.values
@given(rollouts())
def test_gae_matches_the_reference(d: dict[str, Any]) -> None:
    got = gae(
        _t(d["r"]),
        _t(d["v"]),
        _t(d["nv"]),
        _t(d["term"]),
        _t(d["trunc"]),
        gamma=d["gamma"],
        lam=d["lam"],
    )
    want = _per_env(
        lambda r, v, nv, t, tr: ref_gae(r, v, nv, t, tr, d["gamma"], d["lam"]),
        d,
        "r",
        "v",
        "nv",
        "term",
        "trunc",
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.values
@pytest.mark.parametrize("T", [1, 2, 5])
def test_an_episode_end_at_every_position(T: int) -> None:
    """One end at position e, for every e: nothing flows back across it, and the step
    before it bootstraps only when it was a truncation."""
    rng = np.random.default_rng(T)
    r, v, nv = rng.normal(size=(3, T))
    for e in range(T):
        for kind in ("term", "trunc"):
            term = np.zeros(T, bool)
            trunc = np.zeros(T, bool)
            (term if kind == "term" else trunc)[e] = True
            got = gae(_t(r), _t(v), _t(nv), _t(term), _t(trunc), gamma=0.9, lam=0.8)
            np.testing.assert_allclose(got.numpy(), ref_gae(r, v, nv, term, trunc, 0.9, 0.8))
            got = discounted_returns(_t(r), _t(term), _t(trunc), _t(nv), gamma=0.9)
            np.testing.assert_allclose(got.numpy(), ref_discounted(r, term, trunc, nv, 0.9))


def test_gae_with_lambda_one_is_the_discounted_return_minus_values() -> None:
    """A known identity (GAE(λ=1) = G_t - V(s_t) when next_values are the values of the
    next rows), checked on a rollout with both kinds of episode end."""
    rng = np.random.default_rng(0)
    r, v, last = (torch.as_tensor(rng.normal(size=(8, 2))) for _ in range(3))
    nv = torch.cat([v[1:], last[:1]])  # V(s_{t+1}) is the next row's value ...
    term = torch.zeros(8, 2, dtype=torch.bool)
    trunc = torch.zeros(8, 2, dtype=torch.bool)
    term[2, 0] = True
    trunc[5, 1] = True
    nv[5, 1] = 7.0  # ... except after a truncation: the final observation's value
    adv = gae(r, v, nv, term, trunc, gamma=0.97, lam=1.0)
    ret = discounted_returns(r, term, trunc, nv, gamma=0.97)
    torch.testing.assert_close(adv, ret - v)


def test_n_step_with_one_step_is_the_td_target() -> None:
    rng = np.random.default_rng(1)
    r, nv = (torch.as_tensor(rng.normal(size=(6, 3))) for _ in range(2))
    term = torch.as_tensor(rng.random((6, 3)) < 0.3)
    torch.testing.assert_close(
        n_step_returns(r, nv, term, gamma=0.9, n=1), td_target(r, nv, term, 0.9)
    )


# ------------------------------------------------------------------ targets


@pytest.mark.values
@given(st.integers(1, 6), st.integers(1, 5), st.sampled_from([0.0, 0.9, 1.0]), st.integers(0, 999))
def test_targets_match_the_formulas(b: int, n_act: int, gamma: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(b, generator=g)
    q_on, q_tg = torch.randn(b, n_act, generator=g), torch.randn(b, n_act, generator=g)
    q1, q2, lp = (torch.randn(b, generator=g) for _ in range(3))
    done = torch.rand(b, generator=g) < 0.5
    alpha = torch.tensor(0.3)
    notdone = (~done).double().numpy()
    rn, q1n, q2n, lpn = r.numpy(), q1.numpy(), q2.numpy(), lp.numpy()
    np.testing.assert_allclose(
        td_target(r, q1, done, gamma).numpy(), rn + gamma * q1n * notdone, rtol=1e-6
    )
    best = q_on.numpy().argmax(-1)
    want = rn + gamma * q_tg.numpy()[np.arange(b), best] * notdone
    np.testing.assert_allclose(
        double_dqn_target(r, q_on, q_tg, done, gamma).numpy(), want, rtol=1e-6
    )
    want = rn + gamma * notdone * (np.minimum(q1n, q2n) - 0.3 * lpn)
    got = soft_q_target(r, q1, q2, lp, done, gamma, alpha)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    actions = torch.randint(0, n_act, (b,), generator=g)
    np.testing.assert_array_equal(
        q_select(q_on, actions).numpy(), q_on.numpy()[np.arange(b), actions.numpy()]
    )


def test_float_flags_from_a_replay_buffer_work_like_bools() -> None:
    r, v = torch.ones(3), torch.full((3,), 2.0)
    assert torch.equal(
        td_target(r, v, torch.tensor([0.0, 1.0, 0.0]), 0.5),
        td_target(r, v, torch.tensor([False, True, False]), 0.5),
    )


def test_targets_are_constants() -> None:
    v = torch.ones(3, requires_grad=True)
    assert not td_target(torch.ones(3), v, torch.zeros(3, dtype=torch.bool)).requires_grad


# ------------------------------------------------------------------ losses


@pytest.mark.values
@given(st.integers(1, 8), st.sampled_from([0.1, 0.2, 0.5]), st.integers(0, 999))
def test_losses_match_the_formulas(b: int, clip: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    lp, old, adv, v, ret, old_v = (
        torch.randn(b, generator=g, dtype=torch.float64) for _ in range(6)
    )
    ratio = np.exp(lp.numpy() - old.numpy())
    want = -np.minimum(ratio * adv.numpy(), np.clip(ratio, 1 - clip, 1 + clip) * adv.numpy()).mean()
    np.testing.assert_allclose(float(clipped_surrogate_loss(lp, old, adv, clip)), want, rtol=1e-10)
    np.testing.assert_allclose(
        float(value_loss(v, ret)), 0.5 * ((v.numpy() - ret.numpy()) ** 2).mean(), rtol=1e-10
    )
    vc = old_v.numpy() + np.clip(v.numpy() - old_v.numpy(), -clip, clip)
    want = 0.5 * np.maximum((v.numpy() - ret.numpy()) ** 2, (vc - ret.numpy()) ** 2).mean()
    np.testing.assert_allclose(float(value_loss(v, ret, old_v, clip)), want, rtol=1e-10)


def test_surrogate_gradient_flows_to_log_prob_only() -> None:
    lp = torch.zeros(4, requires_grad=True)
    old = torch.zeros(4, requires_grad=True)
    adv = torch.tensor([1.0, -1.0, 2.0, 0.5], requires_grad=True)
    clipped_surrogate_loss(lp, old, adv).backward()
    assert lp.grad is not None and old.grad is None and adv.grad is None


# ------------------------------------------------------------------ polyak


@pytest.mark.values
@given(st.sampled_from([0.005, 0.5, 1.0]))
def test_polyak_update_matches_the_formula(tau: float) -> None:
    torch.manual_seed(0)
    src, tgt = (
        nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)),
        nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)),
    )
    src[1].running_mean.fill_(3.0)
    before = [p.detach().clone() for p in tgt.parameters()]
    polyak_update(tgt, src, tau)
    for b, p, s in zip(before, tgt.parameters(), src.parameters()):
        torch.testing.assert_close(p, (1 - tau) * b + tau * s)
    assert torch.equal(tgt[1].running_mean, src[1].running_mean)


def test_polyak_refuses_mismatched_networks_and_writes_nothing() -> None:
    src, tgt = nn.Linear(3, 4), nn.Linear(3, 5)
    before = tgt.weight.detach().clone()
    with pytest.raises(ShapeError, match="`weight` has shape") as info:
        polyak_update(tgt, src, 0.5)
    assert info.value.function == "polyak_update"
    assert torch.equal(before, tgt.weight)
    with pytest.raises(ShapeError, match="different parameters"):
        polyak_update(nn.Linear(3, 4), nn.Sequential(nn.Linear(3, 4)), 0.5)


@pytest.mark.parametrize("tau", [0, -0.1, 1.5, "0.1", None, True, float("nan")])
def test_polyak_refuses_a_bad_tau(tau: Any) -> None:
    with pytest.raises(UsageError) as info:
        polyak_update(nn.Linear(1, 1), nn.Linear(1, 1), tau)
    assert info.value.argument == "tau"


# ------------------------------------------------------------------ the traps


def test_b1_next_values_against_b_rewards_is_refused() -> None:
    """The classic DQN bug: (B, 1) network output, (B,) rewards -> (B, B) in plain torch."""
    r, q = torch.ones(8), torch.ones(8, 1)
    done = torch.zeros(8, dtype=torch.bool)
    assert (r + 0.99 * q * (~done)).shape == (8, 8)  # what plain torch does, silently
    with pytest.raises(ShapeError, match="squeeze") as info:
        td_target(r, q, done)
    assert info.value.function == "td_target"
    assert info.value.argument == "next_values"


def test_b1_actions_into_q_select_are_refused() -> None:
    with pytest.raises(ShapeError) as info:
        q_select(torch.zeros(8, 4), torch.zeros(8, 1, dtype=torch.long))
    assert info.value.argument == "actions"


def test_per_coordinate_log_prob_into_the_surrogate_is_refused() -> None:
    lp = torch.zeros(8, 3)  # Normal(...).log_prob(actions) without .sum(-1)
    with pytest.raises(ShapeError) as info:
        clipped_surrogate_loss(lp, torch.zeros(8), torch.zeros(8))
    assert info.value.argument == "log_prob"


def test_sac_log_prob_with_a_trailing_axis_is_refused() -> None:
    b = torch.zeros(8)
    with pytest.raises(ShapeError) as info:
        soft_q_target(b, b, b, torch.zeros(8, 1), b.bool())
    assert info.value.argument == "next_log_prob"


def test_time_major_mismatch_is_refused() -> None:
    with pytest.raises(ShapeError) as info:
        gae(torch.zeros(5, 2), torch.zeros(2, 5), torch.zeros(5, 2), torch.zeros(5, 2))
    assert info.value.argument == "values"


@pytest.mark.parametrize("gamma", [-0.1, 1.01, float("nan"), "0.9", None])
def test_bad_gamma_is_refused(gamma: Any) -> None:
    with pytest.raises(ShapesafeError) as info:
        td_target(torch.ones(2), torch.ones(2), torch.zeros(2), gamma)
    assert info.value.function == "td_target"
    assert info.value.argument == "gamma"


def test_flags_that_are_not_flags_are_refused() -> None:
    with pytest.raises(DtypeError, match=r"found the value 0\.5") as info:
        td_target(torch.ones(2), torch.ones(2), torch.tensor([0.0, 0.5]))
    assert info.value.argument == "terminated"


def test_numpy_scalars_and_tensor_alpha_are_numbers() -> None:
    b = torch.zeros(3)
    td_target(b, b, b.bool(), np.float64(0.9))
    with pytest.raises(ShapeError, match=r"expected shape \(\)") as info:
        soft_q_target(b, b, b, b, b.bool(), 0.9, torch.ones(1))  # type: ignore[arg-type]
    assert info.value.argument == "alpha"


def test_n_must_be_a_positive_int() -> None:
    b = torch.zeros(3)
    with pytest.raises(UsageError) as info:
        n_step_returns(b, b, b.bool(), n=0)
    assert info.value.argument == "n"


def test_a_clipped_value_loss_needs_old_values() -> None:
    with pytest.raises(UsageError, match="values before the update") as info:
        value_loss(torch.zeros(2), torch.zeros(2), clip=0.2)
    assert info.value.argument == "old_values"


@pytest.mark.parametrize("dynamic", [None, True])
def test_the_helpers_compile_fullgraph_as_the_batch_size_changes(dynamic: bool | None) -> None:
    """Bool flags and Python-float coefficients: no graph break, and a wrong shape still
    raises the library's error at trace time."""
    import torch._dynamo

    torch._dynamo.reset()

    def step(r, q_next, q_online, q_target, done, lp, old, adv, values, returns):  # type: ignore[no-untyped-def]
        y = td_target(r, q_next, done, 0.99) + double_dqn_target(r, q_online, q_target, done)
        y = y + soft_q_target(r, q_next, q_next, lp, done, 0.99, 0.2)
        loss = clipped_surrogate_loss(lp, old, adv) + value_loss(values, returns)
        return y, loss + q_select(q_online, q_online.argmax(-1)).sum()

    compiled = torch.compile(step, fullgraph=True, dynamic=dynamic, backend="eager")
    for b in (8, 5, 1, 13):
        args = [torch.randn(b), torch.randn(b), torch.randn(b, 3), torch.randn(b, 3),
                torch.rand(b) < 0.5, torch.randn(b), torch.randn(b), torch.randn(b),
                torch.randn(b), torch.randn(b)]  # fmt: skip
        got, want = compiled(*args), step(*args)
        torch.testing.assert_close(got, want)
    with pytest.raises(ShapeError):
        compiled(torch.randn(4), torch.randn(4, 1), *[torch.randn(4, 3)] * 2,
                 torch.zeros(4, dtype=torch.bool), *[torch.randn(4)] * 5)  # fmt: skip
    rewards, values, nxt = torch.randn(6, 2), torch.randn(6, 2), torch.randn(6, 2)
    term = torch.zeros(6, 2, dtype=torch.bool)
    g = torch.compile(gae, fullgraph=True, dynamic=dynamic, backend="eager")
    torch.testing.assert_close(
        g(rewards, values, nxt, term, term), gae(rewards, values, nxt, term, term)
    )
