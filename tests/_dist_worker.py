"""What each rank of the distributed tests runs (a module, so spawn can import it)."""

from __future__ import annotations

import datetime
import json
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from shapesafe import ShapeError
from shapesafe.bc import (
    Batch,
    DiffusionPolicy,
    GaussianPolicy,
    LossOutput,
    MixturePolicy,
    cubic_demonstrations,
    fit,
)

STEPS, BATCH, ROWS = 12, 32, 203  # 203 rows: every 7th batch is ragged (11 rows)


class FailsOnRankOne(GaussianPolicy, kind="test-fails-on-rank-one"):
    """A Gaussian policy whose loss raises a shape error on rank 1 at its third step."""

    calls = 0

    def compute_loss(self, batch: Batch) -> LossOutput:
        type(self).calls += 1
        if dist.is_initialized() and dist.get_rank() == 1 and type(self).calls == 3:
            raise ShapeError("compute_loss(): a shape error on rank 1", function="compute_loss")
        return super().compute_loss(batch)


def make_policy(kind: str = "gaussian") -> Any:
    torch.manual_seed(0)
    if kind == "mixture":
        return MixturePolicy(2, 2, components=3, hidden=(16, 16))
    if kind == "diffusion":
        return DiffusionPolicy(2, 2, hidden=(16, 16), train_steps=20, inference_steps=5)
    cls = FailsOnRankOne if kind == "fails" else GaussianPolicy
    return cls(2, 2, hidden=(16, 16))


def train(
    policy: GaussianPolicy,
    out: Path,
    *,
    distributed: bool,
    steps: int = STEPS,
    resume: bool = False,
) -> Any:
    return fit(
        policy,
        cubic_demonstrations(ROWS, seed=0),
        steps=steps,
        batch_size=BATCH,
        seed=0,
        progress=False,
        log_every=4,
        checkpoint_dir=out / "ckpt",
        checkpoint_every=6,
        resume=resume,
        distributed=distributed,
    )


def run(rank: int, world: int, init_file: str, out_dir: str, scenario: str) -> None:
    out = Path(out_dir)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    torch.set_num_threads(1)
    report: dict[str, Any] = {"rank": rank}
    try:
        if scenario == "families":
            for kind in ("mixture", "diffusion"):
                policy = make_policy(kind)
                train(policy, out / kind, distributed=True, steps=6)
                torch.save(policy.state_dict(), out / f"{kind}{rank}.pt")
            return
        policy = make_policy("fails" if scenario == "fail" else "gaussian")
        steps = STEPS // 2 if scenario == "half" else STEPS
        result = train(policy, out, distributed=True, steps=steps)
        torch.save(policy.state_dict(), out / f"rank{rank}.pt")
        report["train_loss"] = result.train_loss
        report["checkpoint"] = str(result.checkpoint)
    except Exception as exc:  # reported to the test, which checks every rank raised
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
    finally:
        (out / f"rank{rank}.json").write_text(json.dumps(report))
        dist.destroy_process_group()
