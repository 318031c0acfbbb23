"""Data-parallel fit over loopback with gloo: two spawned processes train exactly like
one process on the same global batches, a failure on one rank raises on both (no
hang), and a two-process checkpoint resumes in one process."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest
import torch

import _dist_worker as worker
from shapesafe import UsageError

WORLD = 2


def _spawn(tmp_path: Path, scenario: str) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    init = tmp_path / "init"
    procs = [
        ctx.Process(target=worker.run, args=(r, WORLD, str(init), str(tmp_path), scenario))
        for r in range(WORLD)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    hung = [p.pid for p in procs if p.exitcode is None]
    for p in procs:
        if p.exitcode is None:
            p.kill()
    assert not hung, f"ranks still running after the timeout: {hung}"
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]


def test_two_ranks_match_one_process_on_the_same_global_batches(tmp_path: Path) -> None:
    reports = _spawn(tmp_path, "match")
    assert all("error" not in r for r in reports), [r.get("traceback") for r in reports]
    single = worker.make_policy()
    ref = worker.train(single, tmp_path / "single", distributed=False)
    for r in range(WORLD):
        state = torch.load(tmp_path / f"rank{r}.pt", weights_only=True)
        for name, value in single.state_dict().items():
            torch.testing.assert_close(state[name], value, rtol=1e-5, atol=1e-6)
        # logged losses: the mean over ranks is the global batch's mean loss
        assert reports[r]["train_loss"] == pytest.approx(ref.train_loss, rel=1e-5)
    # rank 0 wrote the checkpoint, and a one-process run resumes from it
    assert Path(reports[0]["checkpoint"]).exists()


def test_a_failure_on_one_rank_raises_on_every_rank(tmp_path: Path) -> None:
    reports = _spawn(tmp_path, "fail")
    assert "a shape error on rank 1" in reports[1]["error"]
    assert reports[0]["error"].startswith("ShapesafeError: fit(): rank 1 of 2 failed")
    assert "a shape error on rank 1" in reports[0]["error"]


def test_a_two_rank_checkpoint_resumes_in_one_process(tmp_path: Path) -> None:
    reports = _spawn(tmp_path, "half")  # 6 steps on 2 ranks, checkpoint at step 6
    assert all("error" not in r for r in reports), [r.get("traceback") for r in reports]
    resumed = worker.make_policy()
    result = worker.train(resumed, tmp_path, distributed=False, resume=True)
    assert result.resumed_from == worker.STEPS // 2
    straight = worker.make_policy()
    worker.train(straight, tmp_path / "straight", distributed=False)
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_mixture_and_diffusion_policies_train_under_ddp(tmp_path: Path) -> None:
    """The other families train the same way: ranks stay in sync, and the deterministic
    mixture loss matches one process (diffusion draws its noise per rank, so only the
    ranks' agreement is exact there)."""
    reports = _spawn(tmp_path, "families")
    assert all("error" not in r for r in reports), [r.get("traceback") for r in reports]
    for kind in ("mixture", "diffusion"):
        a = torch.load(tmp_path / f"{kind}0.pt", weights_only=True)
        b = torch.load(tmp_path / f"{kind}1.pt", weights_only=True)
        for name in a:
            torch.testing.assert_close(a[name], b[name])
    single = worker.make_policy("mixture")
    worker.train(single, tmp_path / "single", distributed=False, steps=6)
    ranked = torch.load(tmp_path / "mixture0.pt", weights_only=True)
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ranked[name], value, rtol=1e-5, atol=1e-6)


def test_distributed_without_a_process_group_says_how_to_launch() -> None:
    with pytest.raises(UsageError, match="torchrun") as info:
        worker.train(worker.make_policy(), Path("/nonexistent"), distributed=True)
    assert info.value.argument == "distributed"


def test_the_cli_trains_under_torchrun(tmp_path: Path) -> None:
    """The documented command line: torchrun --nproc-per-node 2 -m shapesafe train
    --distributed; rank 0 reports and writes the checkpoint."""
    import subprocess
    import sys

    from shapesafe.bc import cubic_demonstrations

    data = cubic_demonstrations(256, seed=0).save(tmp_path / "demos.npz")
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "shapesafe",
        "train",
        "--distributed",
        "--data",
        str(data),
        "--steps",
        "6",
        "--batch-size",
        "32",
        "--out",
        str(out),
        "--no-progress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 6 steps") == 1  # rank 0 only
    assert (out / "last.pt").exists()
