"""Evaluation results a reviewer can trust: the numbers saved with what produced them.

:meth:`EnvEvaluation.save <shapesafe.bc.EnvEvaluation.save>` writes one JSON file:

* ``summary``: episodes, success rate and its Wilson 95% interval, mean/std return and
  the 95% interval of the mean, mean length, seconds per action;
* ``episodes``: per-episode ``seeds``, ``returns``, ``lengths``, ``successes`` (so
  anyone can recompute the summary, or a different statistic, from the file alone);
* ``policy``: kind and ``get_config()`` of a :class:`~shapesafe.bc.Policy` (class and
  gymnasium id of an expert or other callable);
* ``checkpoint``: path and sha256 of the file the policy came from, when known;
* ``env``: gymnasium id, class, constructor kwargs, ``max_episode_steps``, and for a
  vector env the number of sub-envs and the autoreset mode;
* ``evaluation``: first seed, episodes, deterministic or sampled, wall seconds;
* ``versions``: shapesafe, torch, numpy, gymnasium, Python; and the UTC ``date``.

:func:`load_evaluation` reads it back as an :class:`EnvEvaluation` whose ``rollouts`` is
``None`` (the steps themselves are not saved) and whose ``provenance`` is the rest of
the file. Values that JSON cannot hold (an env kwarg that is an object) are written as
their ``repr``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from shapesafe._format import error
from shapesafe.errors import DataError, UsageError

__all__ = ["describe_run", "load_evaluation", "save_evaluation"]

FORMAT = "shapesafe-evaluation"
VERSION = 1
_SUMMARY = (
    "episodes",
    "success_rate",
    "success_ci95",
    "mean_return",
    "std_return",
    "return_ci95",
    "mean_length",
    "seconds_per_action",
)


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_run(policy: Any, env: Any, checkpoint: Any, function: str) -> dict[str, Any]:
    """Everything about an evaluation except its numbers: policy, checkpoint, env,
    versions and date (see the module docs)."""
    record: dict[str, Any] = {
        "policy": _describe_policy(policy),
        "checkpoint": None,
        "env": _describe_env(env),
        "versions": _versions(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise error(
                UsageError,
                f"no such checkpoint file: {str(path)!r}",
                function=function,
                argument="checkpoint",
                expected="the file the policy was loaded from",
                got=repr(str(path)),
            )
        record["checkpoint"] = {"path": str(path), "sha256": sha256(path)}
    return record


def _describe_policy(policy: Any) -> dict[str, Any]:
    from shapesafe.bc.policies.base import Policy

    if isinstance(policy, Policy):
        return {
            "kind": policy.kind,
            "class": _qualname(type(policy)),
            "config": _jsonable(policy.get_config()),
            "parameters": sum(p.numel() for p in policy.parameters()),
        }
    out: dict[str, Any] = {"kind": None, "class": _qualname(type(policy))}
    env_id = getattr(policy, "env_id", "")
    if env_id:  # a registered expert names the env it was written for
        out["env_id"] = str(env_id)
    return out


def _describe_env(env: Any) -> dict[str, Any]:
    from shapesafe.bc._rollout import is_vector_env

    vector = is_vector_env(env)
    spec = getattr(env, "spec", None)
    if spec is None and vector and hasattr(env, "get_attr"):
        try:  # a vector env built by hand: its sub-envs carry the spec
            spec = env.get_attr("spec")[0]
        except Exception:
            spec = None
    base = getattr(env, "unwrapped", env)
    out: dict[str, Any] = {
        "id": getattr(spec, "id", None),
        "class": _qualname(type(base)),
        "kwargs": _jsonable(dict(getattr(spec, "kwargs", None) or {})),
        "max_episode_steps": getattr(spec, "max_episode_steps", None),
    }
    if vector:
        from shapesafe.bc._vector_rollout import autoreset_mode

        out["num_envs"] = int(env.num_envs)
        out["autoreset_mode"] = autoreset_mode(env)
    return out


def _versions() -> dict[str, str | None]:
    import torch

    from shapesafe import __version__

    try:
        import gymnasium

        gym_version: str | None = gymnasium.__version__
    except ImportError:  # pragma: no cover - gymnasium is what envs come from
        gym_version = None
    return {
        "shapesafe": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "gymnasium": gym_version,
        "python": platform.python_version(),
    }


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and tuples as JSON values; anything else that
    JSON cannot hold as its ``repr``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def save_evaluation(evaluation: Any, path: str | Path) -> Path:
    """Write ``evaluation`` (an :class:`EnvEvaluation`) and its provenance as JSON."""
    out = Path(path)
    summary = {}
    for name in _SUMMARY:
        value = getattr(evaluation, name)
        summary[name] = list(value) if isinstance(value, tuple) else value
    record = {k: v for k, v in dict(evaluation.provenance).items() if k != "episodes"}
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "summary": summary,
        "episodes": {
            "seeds": evaluation.seeds.tolist(),
            "returns": evaluation.returns.tolist(),
            "lengths": evaluation.lengths.tolist(),
            "successes": evaluation.successes.tolist(),
        },
        **_jsonable(record),
    }
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    # JSON has no NaN/inf: a diverged return would make a file other tools cannot read.
    out.write_text(json.dumps(doc, indent=2, default=repr, allow_nan=False) + "\n")
    return out


def load_evaluation(path: str | Path) -> Any:
    """Read an evaluation saved by :meth:`EnvEvaluation.save` (or ``evaluate_in_env(...,
    save_to=path)``, or ``shapesafe evaluate --env ... --save path``).

    Returns an :class:`~shapesafe.bc.EnvEvaluation` with the saved summary, per-episode
    ``returns`` / ``lengths`` / ``successes`` / ``seeds``, ``provenance`` (everything
    else in the file) and ``rollouts=None``.

    Examples:
        >>> import os, tempfile
        >>> from shapesafe.bc import evaluate_in_env, load_evaluation
        >>> from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert
        >>> path = os.path.join(tempfile.mkdtemp(), "eval.json")
        >>> ev = evaluate_in_env(ObstacleExpert(), ObstacleEnv(), episodes=5, save_to=path)
        >>> back = load_evaluation(path)
        >>> back.mean_return == ev.mean_return, back.seeds.tolist()
        (True, [0, 1, 2, 3, 4])
    """
    from shapesafe.bc._rollout import EnvEvaluation

    if not isinstance(path, (str, os.PathLike)):
        raise error(
            UsageError,
            "must be a path to a saved evaluation (.json)",
            function="load_evaluation",
            argument="path",
            expected="a str or os.PathLike",
            got=type(path).__name__,
        )
    p = Path(path)
    if not p.is_file():
        raise error(
            UsageError,
            f"no such file: {str(p)!r}",
            function="load_evaluation",
            argument="path",
            got=repr(str(p)),
        )
    try:
        doc = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad_file(p, f"it is not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad_file(p, f'it has no "format": {FORMAT!r} entry')
    if doc.get("version") != VERSION:
        raise _bad_file(p, f"it is format version {doc.get('version')!r}; this reads {VERSION}")
    summary = doc.get("summary")
    missing = [k for k in _SUMMARY if not isinstance(summary, dict) or k not in summary]
    if missing:
        raise _bad_file(p, f"its summary lacks {', '.join(missing)}")
    assert isinstance(summary, dict)
    provenance = {k: v for k, v in doc.items() if k not in ("format", "version", "summary")}
    return EnvEvaluation(
        episodes=int(summary["episodes"]),
        success_rate=float(summary["success_rate"]),
        success_ci95=_pair(summary["success_ci95"]),
        mean_return=float(summary["mean_return"]),
        std_return=float(summary["std_return"]),
        return_ci95=_pair(summary["return_ci95"]),
        mean_length=float(summary["mean_length"]),
        seconds_per_action=float(summary["seconds_per_action"]),
        rollouts=None,
        provenance=provenance,
    )


def _pair(value: Any) -> tuple[float, float]:
    lo, hi = value
    return float(lo), float(hi)


def _bad_file(path: Path, why: str) -> DataError:
    return error(
        DataError,
        f"{str(path)!r} is not a saved shapesafe evaluation: {why}",
        function="load_evaluation",
        argument="path",
        hint="write one with evaluate_in_env(..., save_to=path) or EnvEvaluation.save(path)",
    )
