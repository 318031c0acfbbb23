"""Five shape bugs reported in public RL codebases (cited in docs/porting.md): each is
reproduced in plain torch, where it passes silently (at most a warning), and then
caught by shapesafe at the user's line with a message that names the fix."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch
from jaxtyping import Float
from torch import Tensor, nn

import shapesafe
from shapesafe.distributions import DiagNormal
from shapesafe.rl import clipped_surrogate_loss, q_select, soft_q_target

B, A = 16, 3


def _raised_at(info: pytest.ExceptionInfo[BaseException], line: int) -> bool:
    """Whether the traceback passes through this test file at ``line``."""
    here = inspect.getsourcefile(_raised_at)
    return any(str(e.path) == here and e.lineno + 1 == line for e in info.traceback)


def _line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 2  # the call sits inside the `with` that follows


def test_a3c_advantage_from_a_b1_value_head() -> None:
    """PacktPublishing/Deep-Reinforcement-Learning-Hands-On#33: `vals_ref - value` with a
    (B, 1) value head gives a (B, B) advantage table; .mean() hides it."""
    value = torch.randn(B, 1)
    vals_ref = torch.randn(B)
    assert (vals_ref - value).shape == (B, B)  # plain torch: silent

    @shapesafe.check
    def advantage(
        returns: Float[Tensor, "batch"], values: Float[Tensor, "batch"]
    ) -> Float[Tensor, "batch"]:
        return returns - values

    line = _line()
    with pytest.raises(shapesafe.ShapeError, match=r"values\.squeeze\(-1\)") as info:
        advantage(vals_ref, value)
    assert info.value.argument == "values"
    assert _raised_at(info, line)


def test_sac_log_prob_not_summed_over_actions() -> None:
    """thu-ml/tianshou#40: SAC's per-coordinate log_prob (B, A) made the soft target
    (B, A) against (B, 1) Q-values; torch only warned in mse_loss."""
    mu, std = torch.zeros(B, A), torch.ones(B, A)
    log_prob = torch.distributions.Normal(mu, std).log_prob(torch.zeros(B, A))  # (B, A)
    q = torch.zeros(B, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target = torch.ones(B, 1) + 0.99 * (q - 0.2 * log_prob)
        nn.functional.mse_loss(q, target)
    assert target.shape == (B, A) and caught  # plain torch: a warning at most

    r = torch.ones(B)
    line = _line()
    with pytest.raises(shapesafe.ShapeError, match=r"sum\(-1\)") as info:
        soft_q_target(r, r, r, log_prob, torch.zeros(B, dtype=torch.bool))
    assert info.value.argument == "next_log_prob"
    assert _raised_at(info, line)


def test_a2c_log_prob_of_multi_dim_actions_times_advantages() -> None:
    """thu-ml/tianshou#162: `log_prob(a) * (r - v)` with log_prob (B, n) and advantages
    (B, 1) multiplies elementwise per coordinate instead of per sample."""
    log_prob = torch.randn(B, A)
    adv = torch.randn(B, 1)
    assert (log_prob * adv).mean().shape == ()  # plain torch: silent

    line = _line()
    with pytest.raises(shapesafe.ShapeError, match=r"log_prob\.sum\(-1\)") as info:
        clipped_surrogate_loss(log_prob, torch.zeros(B), adv.squeeze(-1))
    assert info.value.argument == "log_prob"
    assert _raised_at(info, line)
    # the checked distribution sums over the action axis itself: (B,), nothing to forget
    pi = DiagNormal(torch.zeros(B, A), torch.ones(B, A))
    assert pi.log_prob(torch.zeros(B, A)).shape == (B,)


def test_ppo_ratio_of_column_and_flat_log_probs() -> None:
    """JuliaReinforcementLearning/ReinforcementLearningZoo.jl#169: new log-probs of shape
    (1, N) against old ones (N,) made the PPO ratio an (N, N) matrix (Julia is
    column-major; torch's twin of the bug is an (N, 1) column), reduced by the mean."""
    new, old = torch.randn(B, 1), torch.randn(B)
    assert (new - old).exp().shape == (B, B)  # plain torch: silent

    line = _line()
    with pytest.raises(shapesafe.ShapeError, match=r"squeeze\(-1\)") as info:
        clipped_surrogate_loss(new, old, torch.randn(B))
    assert info.value.argument == "log_prob"
    assert _raised_at(info, line)


def test_dqn_q_of_taken_action_reduced_to_a_scalar() -> None:
    """simoninithomas/Deep_reinforcement_learning_Course#51: Q(s, a) computed by a sum
    over one-hot actions without an axis is a scalar; the loss against (B,) targets
    broadcasts it and trains every row towards the batch mean."""
    q = torch.randn(B, 4)
    actions = torch.randint(0, 4, (B,))
    one_hot = nn.functional.one_hot(actions, 4).float()
    q_taken = (q * one_hot).sum()  # the bug: no dim=1
    target = torch.randn(B)
    assert (q_taken - target).shape == (B,)  # plain torch: silent

    @shapesafe.check
    def td_error(
        q_taken: Float[Tensor, "batch"], target: Float[Tensor, "batch"]
    ) -> Float[Tensor, "batch"]:
        return q_taken - target

    line = _line()
    with pytest.raises(shapesafe.ShapeError) as info:
        td_error(q_taken, target)
    assert info.value.argument == "q_taken"
    assert _raised_at(info, line)
    # the right way, checked: one Q-value per row
    assert q_select(q, actions).shape == (B,)
