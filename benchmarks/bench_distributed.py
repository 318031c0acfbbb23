"""Data-parallel fit: 2 processes vs 1 on the same global batch size (gloo on CPU).

Prints the throughput ratio (steps per second, 2 ranks / 1 process) and where a
distributed step's time goes: the gradient all-reduce (timed alone on a tensor of the
policy's parameter count), shapesafe's one-element "every rank is fine" all-reduce, and
the rest (compute). On a 2-core machine expect modest gains at best: the point is a
correct, documented path; the ratio grows with the batch and the model.

Run: ``python benchmarks/bench_distributed.py [--steps N] [--batch-size B] [--hidden H]``
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist


def _policy(hidden: int) -> torch.nn.Module:
    from shapesafe.bc import GaussianPolicy

    torch.manual_seed(0)
    return GaussianPolicy(2, 2, hidden=(hidden, hidden))


def _fit(policy: torch.nn.Module, steps: int, batch: int, distributed: bool) -> float:
    from shapesafe.bc import cubic_demonstrations, fit

    demos = cubic_demonstrations(20_000, seed=0)
    start = time.perf_counter()
    fit(
        policy,
        demos,
        steps=steps,
        batch_size=batch,
        progress=False,
        distributed=distributed,
        threads=1,
    )
    return time.perf_counter() - start


def _rank(rank: int, world: int, init: str, opts: argparse.Namespace, out: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    torch.set_num_threads(1)
    policy = _policy(opts.hidden)
    seconds = _fit(policy, opts.steps, opts.batch_size, True)
    n = sum(p.numel() for p in policy.parameters())
    grads, flag = torch.zeros(n), torch.ones(1, dtype=torch.int64)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(opts.steps):
        dist.all_reduce(grads)
    t_grad = (time.perf_counter() - t0) / opts.steps
    t0 = time.perf_counter()
    for _ in range(opts.steps):
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    t_flag = (time.perf_counter() - t0) / opts.steps
    if rank == 0:
        Path(out).write_text(f"{seconds} {t_grad} {t_flag} {n}")
    dist.destroy_process_group()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=256)
    opts = parser.parse_args()
    torch.set_num_threads(1)
    one = _fit(_policy(opts.hidden), opts.steps, opts.batch_size, False)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "result")
        ctx = mp.get_context("spawn")
        procs = [
            ctx.Process(target=_rank, args=(r, 2, str(Path(tmp) / "init"), opts, out))
            for r in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        two, t_grad, t_flag, n = (float(x) for x in Path(out).read_text().split())
    per_step = two / opts.steps
    print(
        f"GaussianPolicy hidden=({opts.hidden}, {opts.hidden}) ({int(n)} parameters), "
        f"global batch {opts.batch_size}, {opts.steps} steps"
    )
    print(f"  1 process: {opts.steps / one:8.1f} steps/s")
    print(f"  2 ranks:   {opts.steps / two:8.1f} steps/s   throughput ratio {one / two:.2f}x")
    print(
        f"  per distributed step {per_step * 1e3:.2f} ms: gradient all-reduce "
        f"{t_grad * 1e3:.2f} ms ({t_grad / per_step:.0%}), agreement flag "
        f"{t_flag * 1e3:.3f} ms ({t_flag / per_step:.0%}), the rest (compute, sampling) "
        f"{(per_step - t_grad - t_flag) * 1e3:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
