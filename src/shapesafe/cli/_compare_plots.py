"""The plots of ``shapesafe compare``, one panel per policy (the expert first), so a
person sees the modes: on the obstacle task, 200 actions sampled at the start state and
20 rolled-out trajectories round the obstacle; on the hidden-velocity task, the distance
to the target over 20 episodes (a one-step policy keeps oscillating).

matplotlib is used through its object API (no pyplot global state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shapesafe.bc import Policy, rollout
from shapesafe.bc.tasks import obstacle as ob
from shapesafe.cli._common import Failure

__all__ = ["plot_task", "require_matplotlib"]

SAMPLES = 200
TRAJECTORIES = 20


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise Failure(
            "the plots need matplotlib (pip install matplotlib), or pass --no-plots"
        ) from None


def _figure(panels: int, size: float = 2.6) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    cols = min(panels, 4)
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(size * cols, size * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


def _actors(task: Any, policies: Mapping[str, Policy]) -> dict[str, Any]:
    env = task.make_env()
    return {"expert": task.expert(env), **policies}


def _sampled_actions(actor: Any, obs: np.ndarray, seed: int) -> np.ndarray:
    """SAMPLES actions at ``obs``, each as the first action of a fresh episode."""
    if isinstance(actor, ob.ObstacleExpert):
        actor = ob.ObstacleExpert(seed=seed, noise=0.1)  # the demonstrations' expert
    out = []
    for _ in range(SAMPLES):
        actor.reset()
        a = actor.act(obs) if isinstance(actor, Policy) else actor(obs)
        out.append(np.asarray(a, dtype=np.float64).reshape(-1))
    if hasattr(actor, "reset"):
        actor.reset()
    return np.stack(out)


def _obstacle(task: Any, policies: Mapping[str, Policy], out: Path, seed: int) -> list[Path]:
    from matplotlib.patches import Circle

    actors = _actors(task, policies)
    env = task.make_env()
    start, _ = env.reset(seed=seed)

    fig, axes = _figure(len(actors))
    for ax, (name, actor) in zip(axes, actors.items(), strict=True):
        a = _sampled_actions(actor, start, seed)
        ax.scatter(a[:, 0], a[:, 1], s=6, alpha=0.5)
        ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), title=name, aspect="equal")
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set_xlabel("action x")
        ax.set_ylabel("action y")
    fig.suptitle(f"{SAMPLES} actions sampled at the start state")
    paths = [_save(fig, out / "obstacle-actions.png")]

    fig, axes = _figure(len(actors))
    for ax, (name, actor) in zip(axes, actors.items(), strict=True):
        r = rollout(actor, task.make_env(), TRAJECTORIES, seed)
        obs = r.demos.observations.numpy()
        ids = r.demos.episode_ids.numpy() if r.demos.episode_ids is not None else None
        ax.add_patch(Circle(ob.OBSTACLE, ob.RADIUS, color="0.75"))
        ax.add_patch(Circle(ob.GOAL, ob.GOAL_RADIUS, color="tab:green", alpha=0.4))
        for i in range(TRAJECTORIES):
            xy = obs[ids == i] if ids is not None else obs
            color = "tab:blue" if r.successes[i] else "tab:red"
            ax.plot(xy[:, 0], xy[:, 1], color=color, lw=0.8, alpha=0.7)
        ax.set(xlim=(-0.8, 0.8), ylim=(-0.1, 1.15), aspect="equal")
        ax.set_title(f"{name}: {int(r.successes.sum())}/{TRAJECTORIES}")
    fig.suptitle(f"{TRAJECTORIES} rollouts, sampled actions (blue: reached the goal, red: failed)")
    paths.append(_save(fig, out / "obstacle-trajectories.png"))
    return paths


def _hidden_velocity(task: Any, policies: Mapping[str, Policy], out: Path, seed: int) -> list[Path]:
    env = task.make_env()
    actors = {"expert": task.expert(env), **policies}
    fig, axes = _figure(len(actors))
    for ax, (name, actor) in zip(axes, actors.items(), strict=True):
        r = rollout(actor, env, TRAJECTORIES, seed)  # the expert reads this env's state
        obs = r.demos.observations.numpy()
        ids = r.demos.episode_ids.numpy() if r.demos.episode_ids is not None else None
        for i in range(TRAJECTORIES):
            xy = obs[ids == i] if ids is not None else obs
            ax.plot(np.linalg.norm(xy, axis=1), color="tab:blue", lw=0.8, alpha=0.6)
        ax.set(ylim=(0, 1.8), title=f"{name}: return {r.returns.mean():.1f}")
        ax.set_xlabel("step")
        ax.set_ylabel("distance to target")
    fig.suptitle(f"{TRAJECTORIES} episodes, sampled actions: distance to the target")
    return [_save(fig, out / "hidden-velocity-distance.png")]


def plot_task(task: Any, policies: Mapping[str, Policy], out: Path, *, seed: int) -> list[Path]:
    """Write the task's plots into ``out``; returns their paths."""
    if task.name == "obstacle":
        return _obstacle(task, policies, out, seed)
    return _hidden_velocity(task, policies, out, seed)
