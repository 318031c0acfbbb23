"""``dagger``: behaviour cloning that asks the expert about the learner's own mistakes.

A cloned policy sees only the expert's states; its small errors take it to states the
expert never visited, where its errors grow (Ross & Bagnell 2010: the cost of BC grows
with the square of the horizon). DAgger (Ross, Gordon & Bagnell 2011) rolls out a
β-mixture of learner and expert, labels *every* state it visits with the expert's
action, adds those pairs to one aggregated data set and retrains -- so the data come to
cover the states the learner actually reaches. The loop, per iteration ``i``:

    collect (β_i-mixture rollouts, expert labels) -> aggregate -> fit -> evaluate -> checkpoint

Retraining starts from the *same initial weights* every iteration by default (the
learner is a function of the aggregated data alone, as in the paper's analysis, and a
result does not depend on how the data arrived); ``warm_start=True`` continues from the
previous iteration's weights instead (cheaper per step when the data barely changed).
Checkpoint and resume live in ``_dagger_state``, β schedules and the mixture actor in
``_dagger_mixture``, the aggregate's bookkeeping in ``_dagger_data``, argument checks in
``_dagger_args``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shapesafe._format import error, fmt_shape
from shapesafe.bc._dagger_args import EVAL_SEED_OFFSET, Run, settings
from shapesafe.bc._dagger_data import concat, episode_count, initial_data
from shapesafe.bc._dagger_mixture import BetaArg, BetaMixture, beta_schedule
from shapesafe.bc._dagger_state import DaggerState, load_state, save_state, state_path
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._fit import fit
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import ShapeError

__all__ = ["EVAL_SEED_OFFSET", "DaggerRecord", "DaggerResult", "dagger"]


@dataclass(frozen=True)
class DaggerRecord:
    """What one DAgger iteration did and how good its learner was.

    Attributes:
        iteration: 0 for the behaviour-cloning start on the initial demonstrations,
            then 1, 2, ...
        beta: probability of executing the expert's action in this iteration's
            rollouts (1.0 for the initial demonstrations).
        episodes: episodes collected in this iteration.
        new_labels: expert labels added in this iteration (one per visited state).
        expert_labels: expert labels used so far (the size of the aggregated data).
        expert_acted: fraction of this iteration's steps that executed the expert's
            action (about β).
        collect_return: mean return of this iteration's (mixture) rollouts (``None``
            for iteration 0).
        mean_return: the retrained learner's mean return over the evaluation episodes.
        std_return: its standard deviation.
        return_ci95: (low, high) 95% interval of ``mean_return``.
        success_rate: the learner's success rate over the evaluation episodes.
        train_loss: the final training loss of the retraining.
    """

    iteration: int
    beta: float
    episodes: int
    new_labels: int
    expert_labels: int
    expert_acted: float
    collect_return: float | None
    mean_return: float
    std_return: float
    return_ci95: tuple[float, float]
    success_rate: float
    train_loss: float

    @property
    def dataset_size(self) -> int:
        """Rows in the aggregated data (equal to ``expert_labels``)."""
        return self.expert_labels

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for JSON and checkpoints)."""
        d = asdict(self)
        d["return_ci95"] = list(self.return_ci95)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DaggerRecord:
        values = dict(d)
        values["return_ci95"] = tuple(values["return_ci95"])
        return cls(**values)


@dataclass
class DaggerResult:
    """What :func:`dagger` returns.

    Attributes:
        policy: the learner after the last iteration (the object passed in).
        records: one :class:`DaggerRecord` per iteration (iteration 0 first when
            initial demonstrations were given).
        demos: the aggregated data (``episode_ids`` unique across iterations; extras
            ``iteration`` and ``expert_acted`` per row).
        checkpoint: the checkpoint written last, or ``None``.
        resumed_from: the iteration a resume continued after, or ``None``.
    """

    policy: Policy
    records: list[DaggerRecord] = field(default_factory=list)
    demos: Demonstrations | None = None
    checkpoint: Path | None = None
    resumed_from: int | None = None

    @property
    def expert_labels(self) -> int:
        """Expert labels used in all."""
        return self.records[-1].expert_labels if self.records else 0

    def to_dict(self) -> dict[str, Any]:
        """The records as plain values (what ``shapesafe dagger`` writes as JSON)."""
        return {
            "policy": self.policy.config,
            "records": [r.to_dict() for r in self.records],
            "resumed_from": self.resumed_from,
        }

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else None
        tail = "" if last is None else f", return={last.mean_return:.4g}"
        return (
            f"DaggerResult(iterations={len(self.records)}, "
            f"expert_labels={self.expert_labels}{tail})"
        )


def dagger(
    policy: Policy,
    expert: Callable[[Any], Any],
    env: Any,
    *,
    iterations: int,
    episodes_per_iteration: int,
    beta: BetaArg = "exponential",
    demos: Demonstrations | None = None,
    seed: int = 0,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 64,
    lr: float | None = None,
    warm_start: bool = False,
    fit_options: Mapping[str, Any] | None = None,
    eval_episodes: int = 20,
    eval_seed: int | None = None,
    deterministic: bool = True,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    on_iteration: Callable[[DaggerRecord], None] | None = None,
) -> DaggerResult:
    """Train ``policy`` with DAgger: roll out the β-mixture of learner and expert,
    label every visited state with the expert's action, aggregate, retrain.

    With initial ``demos`` (expert demonstrations), iteration 0 is behaviour cloning
    on them. Iterations ``1..iterations`` each collect ``episodes_per_iteration``
    episodes with the mixture (episode ``j`` of iteration ``i`` starts from
    ``env.reset(seed=seed + i * episodes_per_iteration + j)``; coin flips from
    ``numpy.random.default_rng([seed, i])``), add every visited state with the expert's
    label (new episode ids, never reused), retrain with :func:`fit` and evaluate the
    learner with :func:`evaluate_in_env` over ``eval_episodes`` episodes seeded from
    ``eval_seed`` (default ``seed + 1_000_000``; the same states every iteration).

    Args:
        policy: the learner (a :class:`Policy` matching the env's spaces).
        expert: any callable ``obs -> action`` in the env's action format -- a scripted
            expert (:func:`shapesafe.bc.experts.make_expert`), a trained
            :class:`Policy` (labelling with its most likely action), a human labelling
            tool. Its ``reset()`` is called at episode starts when it has one. It is
            asked about every visited state.
        env: a gymnasium environment.
        iterations: DAgger iterations after iteration 0.
        episodes_per_iteration: episodes collected per iteration.
        beta: β schedule: a number, ``"exponential"`` / ``"exponential:P"`` (β_1 = 1,
            then P^(i-1); Ross et al.), ``"linear"``, or a callable ``i -> β``; see
            :func:`beta_schedule`.
        demos: initial expert demonstrations (iteration 0); their rows keep their order,
            their episodes are renumbered ``0..E-1`` (one episode without ids), and
            their extras are not carried (the aggregate has ``iteration`` and
            ``expert_acted`` only).
        seed: seeds collection, coin flips and training.
        steps: optimizer steps of each retraining (:func:`fit`); ``steps=1000`` when
            neither ``steps`` nor ``epochs`` is given.
        epochs: passes over the aggregated data per retraining instead (so the cost
            grows with the data; ``steps`` does not).
        batch_size: minibatch size, passed to :func:`fit`.
        lr: learning rate, passed to :func:`fit`.
        warm_start: retrain from the previous iteration's weights instead of the
            initial ones.
        fit_options: further :func:`fit` arguments (``optimizer``, ``max_grad_norm``,
            ``checks``, ``threads``, ``device``, ...).
        eval_episodes: evaluation episodes per iteration.
        eval_seed: first evaluation seed.
        deterministic: the learner acts with its most likely action (collection and
            evaluation).
        checkpoint_dir: write ``dagger.pt`` there after every iteration (policy
            weights, aggregated data, records, RNG state); ``load_policy`` reads it.
        resume: continue from ``checkpoint_dir/dagger.pt`` when it exists (a resumed
            run equals an uninterrupted one; the settings must be the same, except
            that ``iterations`` may grow).
        progress: a progress bar over iterations.
        on_iteration: called with each new :class:`DaggerRecord` as soon as its
            iteration is done (e.g. to print a table row; not for the iterations a
            resume restores).

    Returns:
        :class:`DaggerResult`: the records per iteration and the aggregated data.

    Examples:
        >>> from shapesafe.bc import GaussianPolicy, dagger
        >>> from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert
        >>> result = dagger(GaussianPolicy(2, 2, hidden=(16,)), ObstacleExpert(),
        ...                 ObstacleEnv(), iterations=2, episodes_per_iteration=2,
        ...                 steps=20, eval_episodes=2, progress=False)
        >>> [r.iteration for r in result.records], len(result.demos) == result.expert_labels
        ([1, 2], True)
    """
    fn = "dagger"
    run = settings(
        policy, expert, env, iterations, episodes_per_iteration, beta, demos, seed, steps,
        epochs, batch_size, lr, warm_start, fit_options, eval_episodes, eval_seed,
        deterministic, checkpoint_dir, resume,
    )  # fmt: skip
    schedule = beta_schedule(beta, iterations)
    path = state_path(checkpoint_dir)
    state: DaggerState | None = None
    if resume and path is not None and path.exists():
        state = load_state(path, policy, run.signature(schedule.description))
    if state is None:
        state = DaggerState(initial={k: v.detach().clone() for k, v in policy.state_dict().items()})
    result = DaggerResult(policy, resumed_from=state.iteration if state.records else None)
    bar = _bar(iterations, progress)
    if bar is not None and state.records:
        bar.update(max(0, state.iteration))
    if not state.records and demos is not None:
        state.data = initial_data(demos)
        _train_and_record(run, state, 0, 1.0, state.data, collect_return=None)
        _checkpoint(path, run, state, schedule.description)
        _report(on_iteration, state)
    for i in range(state.iteration + 1 if state.records else 1, iterations + 1):
        b = schedule(i)
        new, ret = _collect(run, state, i, b)
        state.data = new if state.data is None else concat(state.data, new, fn)
        _train_and_record(run, state, i, b, new, collect_return=ret)
        _checkpoint(path, run, state, schedule.description)
        _report(on_iteration, state)
        if bar is not None:
            last = state.records[-1]
            bar.set_postfix(ret=f"{last['mean_return']:.4g}", labels=last["expert_labels"])
            bar.update(1)
    if bar is not None:
        bar.close()
    result.records = [DaggerRecord.from_dict(r) for r in state.records]
    result.demos = state.data
    result.checkpoint = path if path is not None and path.exists() else None
    return result


# ---------------------------------------------------------------- the loop's steps


def _collect(run: Run, state: DaggerState, i: int, beta: float) -> tuple[Demonstrations, float]:
    """Iteration ``i``'s rollouts of the β-mixture, labelled by the expert."""
    mixture = BetaMixture(
        run.policy, run.expert, beta, seed=[run.seed, i], deterministic=run.deterministic
    )
    first = run.seed + i * run.episodes
    from shapesafe.bc import rollout  # the public one: rollout's internals are C's to move

    try:
        with torch.no_grad():
            r = rollout(mixture, run.env, run.episodes, seed=first)
    except ShapeError as err:
        if err.function != "rollout":
            raise
        # the learner's spaces were checked up front: an executed action that does not
        # fit the env is the expert's
        raise error(
            ShapeError,
            "the expert's actions do not fit the env's action space",
            function="dagger",
            argument="expert",
            expected=err.expected,
            got=err.got,
            hint="the expert must return one action per observation, in the env's format",
        ) from None
    n = len(r.demos)
    if len(mixture.labels) != n:  # the mixture is called exactly once per recorded step
        raise AssertionError(f"{len(mixture.labels)} labels for {n} steps")
    labels = _labels(mixture.labels, run.env, r.demos.actions)
    assert r.demos.episode_ids is not None
    offset = episode_count(state.data)
    acted = np.asarray(mixture.expert_acted, dtype=np.int64)
    new = Demonstrations(
        r.demos.observations,
        labels,
        episode_ids=r.demos.episode_ids + offset,
        extras={"iteration": np.full(n, i, dtype=np.int64), "expert_acted": acted},
    )
    return new, float(r.returns.mean())


def _labels(labels: list[Any], env: Any, executed: torch.Tensor) -> np.ndarray[Any, Any]:
    """The expert's labels as one array shaped like the executed actions."""
    space = env.action_space
    if getattr(space, "n", None) is not None:
        return np.asarray([int(np.asarray(a).reshape(())) for a in labels], dtype=np.int64)
    shape = tuple(executed.shape[1:])
    out = np.stack([np.asarray(a, dtype=np.float32) for a in labels])
    if out.shape[1:] != shape:
        raise error(
            ShapeError,
            "the expert's actions do not fit the env's action space",
            function="dagger",
            argument="expert",
            expected=f"one action of shape {fmt_shape(shape)} per observation",
            got=f"shape {fmt_shape(out.shape[1:])}",
        )
    return out


def _train_and_record(
    run: Run,
    state: DaggerState,
    i: int,
    beta: float,
    new: Demonstrations,
    *,
    collect_return: float | None,
) -> None:
    assert state.data is not None
    if not run.warm_start:
        run.policy.load_state_dict(state.initial)
    from shapesafe.bc import evaluate_in_env

    fitted = fit(run.policy, state.data, seed=run.seed + i, progress=False, **run.fit_kwargs)
    ev = evaluate_in_env(
        run.policy, run.env, run.eval_episodes, seed=run.eval_seed, deterministic=run.deterministic
    )
    acted = new.extras["expert_acted"]
    record = DaggerRecord(
        iteration=i,
        beta=beta,
        episodes=int(torch.unique(new.episode_ids).numel()) if new.episode_ids is not None else 1,
        new_labels=len(new),
        expert_labels=len(state.data),
        expert_acted=float(acted.float().mean()),
        collect_return=collect_return,
        mean_return=ev.mean_return,
        std_return=ev.std_return,
        return_ci95=ev.return_ci95,
        success_rate=ev.success_rate,
        train_loss=fitted.final_train_loss,
    )
    state.records.append(record.to_dict())
    state.iteration = i


def _report(on_iteration: Callable[[DaggerRecord], None] | None, state: DaggerState) -> None:
    if on_iteration is not None:
        on_iteration(DaggerRecord.from_dict(state.records[-1]))


def _checkpoint(path: Path | None, run: Run, state: DaggerState, beta: str) -> None:
    if path is not None:
        save_state(path, run.policy, state, run.signature(beta))


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="dagger", leave=False)
