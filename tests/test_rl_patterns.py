"""Strict broadcasting on the shape patterns of three well-known single-file RL scripts
(cleanrl-style PPO with continuous actions, SAC, DQN), excerpted by us, small and
faithful: the correct code runs under ``strict_broadcasting()`` with zero alarms and
the same numbers as plain torch, and each injected bug of the (B,)/(B, 1) family, the
batch-summed log-prob and the (B, 1)-actions-into-a-(B,)-distribution case raises.

The data layout follows those scripts: rollout storage ``(num_steps, num_envs)``,
replay-buffer samples whose rewards and dones are ``(B, 1)`` columns (hence their
``.flatten()`` calls), rewards arriving from the env as numpy arrays.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn, optim
from torch.distributions import Normal

import shapesafe
from shapesafe import BroadcastError
from shapesafe.strict import strict_broadcasting

OBS = 3

# --------------------------------------------------------------------------------------
# PPO (continuous actions)


class PPOAgent(nn.Module):
    def __init__(self, act_dim: int, sum_axis: int = 1, squeeze_mean: bool = False) -> None:
        super().__init__()
        self.critic = nn.Sequential(nn.Linear(OBS, 16), nn.Tanh(), nn.Linear(16, 1))
        self.actor_mean = nn.Sequential(nn.Linear(OBS, 16), nn.Tanh(), nn.Linear(16, act_dim))
        self.actor_logstd = nn.Parameter(torch.zeros(1, act_dim))
        self.sum_axis = sum_axis  # bug: 0 sums the log-prob over the batch
        self.squeeze_mean = squeeze_mean  # bug: a (B,) Normal fed (B, 1) actions

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def get_action_and_value(
        self, x: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        action_mean = self.actor_mean(x)
        action_logstd = self.actor_logstd.expand_as(action_mean)
        action_std = torch.exp(action_logstd)
        if self.squeeze_mean:
            action_mean, action_std = action_mean.squeeze(-1), action_std.squeeze(-1)
        probs = Normal(action_mean, action_std)
        if action is None:
            action = probs.sample()
            if self.squeeze_mean:
                action = action.unsqueeze(-1)
        if self.squeeze_mean:
            return action, probs.log_prob(action), probs.entropy(), self.critic(x)
        return (
            action,
            probs.log_prob(action).sum(self.sum_axis),
            probs.entropy().sum(1),
            self.critic(x),
        )


def ppo(
    num_envs: int,
    act_dim: int = 2,
    num_steps: int = 8,
    bug: str | None = None,
    strict: bool = False,
) -> list[float]:
    """One rollout with GAE, then one epoch of clipped-PPO minibatch updates."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    gamma, gae_lambda, clip_coef, ent_coef, vf_coef = 0.99, 0.95, 0.2, 0.0, 0.5
    agent = PPOAgent(
        act_dim, sum_axis=0 if bug == "batch_sum" else 1, squeeze_mean=bug == "normal_b1"
    )
    optimizer = optim.Adam(agent.parameters(), lr=3e-4, eps=1e-5)
    obs = torch.zeros((num_steps, num_envs, OBS))
    actions = torch.zeros((num_steps, num_envs, act_dim))
    logprobs = torch.zeros((num_steps, num_envs))
    rewards = torch.zeros((num_steps, num_envs))
    dones = torch.zeros((num_steps, num_envs))
    values = torch.zeros((num_steps, num_envs))
    next_obs = torch.randn(num_envs, OBS)
    next_done = torch.zeros(num_envs)
    losses: list[float] = []
    mode = strict_broadcasting() if strict else contextlib.nullcontext()
    with mode:
        for step in range(num_steps):
            obs[step] = next_obs
            dones[step] = next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            reward = -(action**2).sum(1).numpy()  # the env hands back numpy
            next_obs = torch.randn(num_envs, OBS)
            rewards[step] = torch.tensor(reward).view(-1)
            next_done = torch.tensor(rng.random(num_envs) < 0.2).float()

        with torch.no_grad():
            next_value = agent.get_value(next_obs)
            if bug != "gae_column":
                next_value = next_value.reshape(1, -1)  # (1, num_envs)
            advantages = torch.zeros_like(rewards)
            lastgaelam: torch.Tensor | float = 0
            for t in reversed(range(num_steps)):
                if t == num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = (
                    delta + gamma * gae_lambda * nextnonterminal * lastgaelam
                )
            returns = advantages + values

        b_obs = obs.reshape((-1, OBS))
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1, act_dim))
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)
        batch_size = num_steps * num_envs
        b_inds = np.arange(batch_size)
        rng.shuffle(b_inds)
        minibatch_size = max(batch_size // 2, 2)
        for start in range(0, batch_size, minibatch_size):
            mb_inds = b_inds[start : start + minibatch_size]
            _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                b_obs[mb_inds], b_actions[mb_inds]
            )
            logratio = newlogprob - b_logprobs[mb_inds]
            ratio = logratio.exp()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - logratio).mean()
                clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean().item()
            mb_advantages = b_advantages[mb_inds]
            mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
            pg_loss1 = -mb_advantages * ratio
            pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
            pg_loss = torch.max(pg_loss1, pg_loss2).mean()
            if bug != "value_column":
                newvalue = newvalue.view(-1)
            v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
            v_clipped = b_values[mb_inds] + torch.clamp(
                newvalue - b_values[mb_inds], -clip_coef, clip_coef
            )
            v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
            v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
            loss = pg_loss - ent_coef * entropy.mean() + v_loss * vf_coef
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
            optimizer.step()
            losses += [loss.item(), approx_kl.item(), clipfrac]
    return losses


# --------------------------------------------------------------------------------------
# SAC (continuous actions)

LOG_STD_MAX, LOG_STD_MIN = 2, -5


class SoftQNetwork(nn.Module):
    def __init__(self, act_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(OBS + act_dim, 16)
        self.fc2 = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(torch.cat([x, a], 1))))


class Actor(nn.Module):
    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        super().__init__()
        act_dim = low.shape[0]
        self.fc1 = nn.Linear(OBS, 16)
        self.fc_mean = nn.Linear(16, act_dim)
        self.fc_logstd = nn.Linear(16, act_dim)
        self.register_buffer("action_scale", torch.tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.tensor((high + low) / 2.0, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.fc1(x))
        mean = self.fc_mean(x)
        log_std = torch.tanh(self.fc_logstd(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)
        return mean, log_std

    def get_action(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_std = self(x)
        normal = Normal(mean, log_std.exp())
        x_t = normal.rsample()
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias  # (B, A) with (A,) buffers
        log_prob = normal.log_prob(x_t)
        log_prob -= torch.log(self.action_scale * (1 - y_t.pow(2)) + 1e-6)
        log_prob = log_prob.sum(1, keepdim=True)
        mean = torch.tanh(mean) * self.action_scale + self.action_bias
        return action, log_prob, mean


class ReplayBufferSamples(NamedTuple):
    """As Stable-Baselines3 hands them out: rewards and dones are (B, 1) columns."""

    observations: torch.Tensor
    actions: torch.Tensor
    next_observations: torch.Tensor
    dones: torch.Tensor
    rewards: torch.Tensor


def _samples(batch: int, act_dim: int, seed: int) -> ReplayBufferSamples:
    g = torch.Generator().manual_seed(seed)
    return ReplayBufferSamples(
        torch.randn(batch, OBS, generator=g),
        torch.rand(batch, act_dim, generator=g) * 2 - 1,
        torch.randn(batch, OBS, generator=g),
        (torch.rand(batch, 1, generator=g) < 0.1).float(),
        torch.randn(batch, 1, generator=g),
    )


def sac(
    batch: int = 16, act_dim: int = 2, bug: str | None = None, strict: bool = False
) -> list[float]:
    torch.manual_seed(0)
    gamma, tau = 0.99, 0.005
    actor = Actor(-2 * np.ones(act_dim), 2 * np.ones(act_dim))
    qf1, qf2 = SoftQNetwork(act_dim), SoftQNetwork(act_dim)
    qf1_target, qf2_target = SoftQNetwork(act_dim), SoftQNetwork(act_dim)
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    q_optimizer = optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=1e-3)
    actor_optimizer = optim.Adam(actor.parameters(), lr=3e-4)
    target_entropy = -float(act_dim)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha = log_alpha.exp().detach()  # kept as a (1,) tensor
    a_optimizer = optim.Adam([log_alpha], lr=1e-3)
    out: list[float] = []
    mode = strict_broadcasting() if strict else contextlib.nullcontext()
    with mode:
        for it in range(2):
            data = _samples(batch, act_dim, it)
            with torch.no_grad():
                next_actions, next_log_pi, _ = actor.get_action(data.next_observations)
                qf1_next = qf1_target(data.next_observations, next_actions)
                qf2_next = qf2_target(data.next_observations, next_actions)
                min_qf_next = torch.min(qf1_next, qf2_next) - alpha * next_log_pi
                if bug == "no_flatten":
                    next_q_value = data.rewards + (1 - data.dones) * gamma * min_qf_next.view(-1)
                else:
                    next_q_value = data.rewards.flatten() + (
                        1 - data.dones.flatten()
                    ) * gamma * min_qf_next.view(-1)
            qf1_a_values = qf1(data.observations, data.actions)
            qf2_a_values = qf2(data.observations, data.actions).view(-1)
            if bug != "q_column":
                qf1_a_values = qf1_a_values.view(-1)
            qf_loss = F.mse_loss(qf1_a_values, next_q_value) + F.mse_loss(
                qf2_a_values, next_q_value
            )
            q_optimizer.zero_grad()
            qf_loss.backward()
            q_optimizer.step()

            pi, log_pi, _ = actor.get_action(data.observations)
            min_qf_pi = torch.min(qf1(data.observations, pi), qf2(data.observations, pi))
            actor_loss = ((alpha * log_pi) - min_qf_pi).mean()
            actor_optimizer.zero_grad()
            actor_loss.backward()
            actor_optimizer.step()

            with torch.no_grad():
                _, log_pi, _ = actor.get_action(data.observations)
            alpha_loss = (-log_alpha.exp() * (log_pi + target_entropy)).mean()
            a_optimizer.zero_grad()
            alpha_loss.backward()
            a_optimizer.step()
            alpha = log_alpha.exp().detach()

            for param, target_param in zip(qf1.parameters(), qf1_target.parameters()):
                target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)
            out += [qf_loss.item(), actor_loss.item(), alpha_loss.item(), alpha.item()]
    return out


# --------------------------------------------------------------------------------------
# DQN


def dqn(batch: int = 16, bug: str | None = None, strict: bool = False) -> list[float]:
    torch.manual_seed(0)
    gamma, tau, n_actions = 0.99, 1.0, 2
    q_network = nn.Sequential(nn.Linear(OBS, 16), nn.ReLU(), nn.Linear(16, n_actions))
    target_network = nn.Sequential(nn.Linear(OBS, 16), nn.ReLU(), nn.Linear(16, n_actions))
    target_network.load_state_dict(q_network.state_dict())
    optimizer = optim.Adam(q_network.parameters(), lr=2.5e-4)
    out: list[float] = []
    mode = strict_broadcasting() if strict else contextlib.nullcontext()
    with mode:
        for it in range(2):
            q_values = q_network(torch.randn(4, OBS))
            greedy = torch.argmax(q_values, dim=1).cpu().numpy()
            data = _samples(batch, 1, it)
            data = data._replace(actions=torch.randint(0, n_actions, (batch, 1)))
            with torch.no_grad():
                target_max, _ = target_network(data.next_observations).max(dim=1)
                if bug == "no_flatten":
                    td_target = data.rewards + gamma * target_max * (1 - data.dones)
                else:
                    td_target = data.rewards.flatten() + gamma * target_max * (
                        1 - data.dones.flatten()
                    )
            old_val = q_network(data.observations).gather(1, data.actions)
            if bug != "no_squeeze":
                old_val = old_val.squeeze()
            loss = F.mse_loss(td_target, old_val)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for target_param, param in zip(target_network.parameters(), q_network.parameters()):
                target_param.data.copy_(tau * param.data + (1.0 - tau) * target_param.data)
            out += [loss.item(), float(greedy.sum())]
    return out


# --------------------------------------------------------------------------------------
# the correct scripts: no alarm, same numbers


@pytest.mark.values
@pytest.mark.parametrize("num_envs", [1, 4])  # cleanrl's continuous PPO runs 1 env
@pytest.mark.parametrize("act_dim", [1, 2])
def test_ppo_runs_unchanged_under_strict(num_envs: int, act_dim: int) -> None:
    assert ppo(num_envs, act_dim, strict=True) == ppo(num_envs, act_dim)


@pytest.mark.values
@pytest.mark.parametrize("act_dim", [1, 3])
def test_sac_runs_unchanged_under_strict(act_dim: int) -> None:
    assert sac(act_dim=act_dim, strict=True) == sac(act_dim=act_dim)


@pytest.mark.values
def test_dqn_runs_unchanged_under_strict() -> None:
    assert dqn(strict=True) == dqn()


@pytest.mark.values
@settings(max_examples=10, deadline=None)
@given(num_envs=st.integers(1, 4), steps=st.integers(1, 4))
def test_gae_step_passes_at_every_env_count(num_envs: int, steps: int) -> None:
    """The excerpt's GAE line alone: (1, N) next values against (N,) rows."""
    rewards, values, dones = (
        torch.rand(steps, num_envs),
        torch.rand(steps, num_envs),
        torch.zeros(steps, num_envs),
    )
    next_value = torch.rand(1, num_envs)
    with strict_broadcasting():
        delta = rewards[-1] + 0.99 * next_value * (1.0 - dones[-1]) - values[-1]
    assert torch.equal(delta, (rewards[-1] + 0.99 * next_value * (1.0 - dones[-1]) - values[-1]))


# --------------------------------------------------------------------------------------
# the bugs: each raises under strict (and runs silently without it)


@pytest.mark.parametrize(
    ("run", "fragment"),
    [
        (lambda s: ppo(4, bug="value_column", strict=s), r"\(8, 1\) and \(16,\)|\(16, 1\)"),
        (lambda s: ppo(4, bug="gae_column", strict=s), r"shapes \(4, 1\) and \(4,\) to \(4, 4\)"),
        (lambda s: ppo(4, act_dim=1, bug="batch_sum", strict=s), r"total over the batch"),
        (lambda s: ppo(4, act_dim=1, bug="normal_b1", strict=s), r"inside Normal\.log_prob\(\)"),
        (lambda s: sac(bug="no_flatten", strict=s), r"\(16, 1\) and \(16,\) to \(16, 16\)"),
        (
            lambda s: sac(bug="q_column", strict=s),
            r"mse_loss\(\) got input \(16, 1\), target \(16,\)",
        ),
        (lambda s: dqn(bug="no_flatten", strict=s), r"\(16,\) and \(16, 1\) to \(16, 16\)"),
        (
            lambda s: dqn(bug="no_squeeze", strict=s),
            r"mse_loss\(\) got input \(16,\), target \(16, 1\)",
        ),
    ],
    ids=[
        "ppo-value-column",
        "ppo-gae-column",
        "ppo-logprob-summed-over-batch",
        "ppo-b1-actions-into-b-normal",
        "sac-rewards-not-flattened",
        "sac-q-column-in-mse",
        "dqn-rewards-not-flattened",
        "dqn-gather-not-squeezed",
    ],
)
def test_each_injected_bug_raises_under_strict(run: object, fragment: str) -> None:
    import warnings

    with warnings.catch_warnings():  # plain torch warns (mse_loss), stays silent, or fails
        warnings.simplefilter("ignore")  # later, far from the line (a (4, 4) stored in a row)
        try:
            run(False)  # type: ignore[operator]
        except RuntimeError as exc:
            assert "expand" in str(exc)
    with pytest.raises(BroadcastError, match=fragment):
        run(True)  # type: ignore[operator]


def test_the_checked_distributions_refuse_b1_actions_without_strict() -> None:
    """The other layer: shapesafe.distributions refuses the same value with no mode on."""
    from shapesafe.distributions import Normal as CheckedNormal

    dist = CheckedNormal(torch.zeros(8), torch.ones(8))
    with pytest.raises(shapesafe.ShapeError) as info:
        dist.log_prob(torch.zeros(8, 1))
    assert (info.value.function, info.value.argument) == ("Normal.log_prob", "value")
    assert dist.log_prob(torch.zeros(8)).shape == (8,)
