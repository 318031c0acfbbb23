"""The full wording of the behaviour-cloning and CLI messages, in one place: rewording a
message changes this file only (the other bc tests assert structured fields and one
fragment)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import shapesafe
from shapesafe.bc import (
    Demonstrations,
    GaussianPolicy,
    NonFiniteLossError,
    build_policy,
    cubic_demonstrations,
    fit,
)
from shapesafe.cli import main


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(shapesafe.ShapesafeError) as info:
        call()
    return str(info.value)


CASES: dict[str, tuple[Callable[[], object], str | Callable[[], str]]] = {
    "rows": (
        lambda: Demonstrations(torch.zeros(4, 3), torch.zeros(3, 2)),
        "Demonstrations(): `actions` axis 0 (N): expected 4 rows to match `observations` "
        "(4,...), got shape (3, 2)\n  hint: every field needs one row per step; check that "
        "`actions` and `observations` come from the same rollouts",
    ),
    "non-finite extra": (
        lambda: Demonstrations(
            torch.zeros(4, 3), torch.zeros(4, 2), extras={"rewards": [0.0, float("nan"), 0, 0]}
        ),
        "Demonstrations(): `rewards` has 1 row(s) with non-finite values (first: row 1 holds "
        "nan)\n  hint: drop or repair those rows before building the demonstrations, e.g. "
        "keep = torch.isfinite(rewards).flatten(1).all(1)",
    ),
    "dict keys": (
        lambda: GaussianPolicy(3, 2).loss({"state": torch.zeros(1)}),
        "GaussianPolicy.loss(): argument `batch`: a mapping needs an observations key "
        "('observations' / 'obs' / 'states') and an actions key ('actions' / 'acts' / 'act'); "
        "none of 'observations' / 'obs' / 'states' found (keys: 'state')\n"
        "  expected: keys 'obs' and 'act' (or their long names)\n  got: 'state'",
    ),
    "action shape": (
        lambda: GaussianPolicy(3, 2).loss((torch.zeros(5, 3), torch.zeros(5, 1))),
        "GaussianPolicy.loss(): argument `batch` (actions): expected shape (5, 2) to match "
        "the policy's spec, got (5, 1)\n  hint: this policy was built for actions (2,) but "
        "these are (1,); check the data, or build the policy with act_dim=1",
    ),
    "batch axis": (
        lambda: GaussianPolicy(3, 2).predict(torch.zeros(3)),
        "GaussianPolicy.predict(): argument `obs`: expected observations of shape (batch, 3), "
        "got (3,)\n  expected: (batch, 3)\n  got: (3,)\n  hint: a single observation lacks "
        "the batch axis: obs.unsqueeze(0), or act(obs)",
    ),
    "fit data": (
        lambda: fit(GaussianPolicy(3, 2), cubic_demonstrations(10), steps=1),
        "fit(): argument `demos`: observations have shape (N, 2) but GaussianPolicy expects "
        "(N, 3)\n  hint: build the policy with obs_dim=2",
    ),
    "kind": (
        lambda: build_policy({"kind": "mixture"}),
        # the registry grows as tests define policies: read it when the case runs
        lambda: (
            "build_policy(): unknown policy kind 'mixture'; known kinds: "
            + ", ".join(shapesafe.bc.policy_kinds())
            + "\n  hint: import the module that defines the policy class before rebuilding it"
        ),
    ),
    "batch size": (
        lambda: cubic_demonstrations(3).sample(0),
        "Demonstrations.sample(): `batch_size` must be a positive integer, got 0",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_message_wording(case: str) -> None:
    call, expected = CASES[case]
    assert _message(call) == (expected() if callable(expected) else expected)


def test_non_finite_loss_wording() -> None:
    policy = GaussianPolicy(2, 2)
    with pytest.raises(NonFiniteLossError) as info:
        fit(policy, cubic_demonstrations(100), steps=20, lr=1e6, progress=False)
    assert str(info.value) == (
        f"fit(): the training loss became {info.value.got} at step {info.value.step}; "
        f"training stopped before its update (the policy holds step {info.value.step - 1}); "
        "no checkpoint was written (pass checkpoint_dir= to keep one)\n"
        "  hint: lower the learning rate, set max_grad_norm=, or look for extreme values "
        "in the data"
    )


def test_cli_wording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = cubic_demonstrations(64).save(tmp_path / "d.npz")
    out = tmp_path / "run"
    base = ["train", "--data", str(data), "--out", str(out), "--no-progress"]
    assert main([*base, "--steps", "4"]) == 0
    capsys.readouterr()
    main([*base, "--steps", "4"])
    assert capsys.readouterr().err == (
        f"shapesafe train: error: --out {str(out)!r} already holds a run (last.pt); pass "
        "--resume to continue it or --overwrite to start over\n"
    )
    main([*base, "--steps", "2", "--resume"])
    assert capsys.readouterr().err == (
        f"shapesafe train: error: the run in {str(out)!r} already finished 4 steps; "
        "--steps 2 asks for fewer, so there is nothing to train; pass a larger --epochs "
        "or --steps to train longer\n"
    )
    main([*base, "--steps", "4", "--resume", "--batch-size", "32"])
    assert capsys.readouterr().err == (
        f"shapesafe train: error: fit(): argument `resume`: cannot resume from "
        f"{str(out / 'last.pt')!r}: the run differs (batch_size: checkpoint 64, now 32); "
        "hint: resume with the same --policy, --hidden, --batch-size, --seed and "
        "--val-fraction, or start fresh with --overwrite\n"
    )
