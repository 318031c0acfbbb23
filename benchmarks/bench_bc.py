"""How fast is ``shapesafe.bc.fit`` per step? Ratios measured in one run.

The toy-expert setting: 1000 demonstrations of 2-d states and 2-d actions, a Gaussian
policy with a (32, 32) MLP mean and a learned log-std, batch 64, Adam, 1 thread.

Targets (issue 7), per optimizer step:

* fit, checks on / hand-written index-sampling loop of the same model   <= 1.10
  (the baseline is the hand loop with validate_args=False, the faster of the two;
  the loop with torch's default validation is printed beside it)
* fit, checks off / the same loop                                      <= 1.03
* a ``DataLoader`` over a ``TensorDataset`` loop is printed beside them (not a target).
* ``imitation`` 1.0.1's BC on the same data, model size and batch: at least 3x slower
  than fit. ``imitation`` is not a dependency: it is installed, with torch pinned to
  2.13.0, into a throwaway virtual environment that this script creates (``--peer-venv``
  keeps and reuses one; ``--skip-peer`` skips this part). Where it cannot be installed
  (no network, no wheel), the script says so and still exits 0.

Run: python benchmarks/bench_bc.py [--skip-peer] [--peer-venv DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(SRC))

import torch
from _timing import compare, report
from torch.distributions import Independent, Normal
from torch.utils.data import DataLoader, TensorDataset

from shapesafe.bc import GaussianPolicy, cubic_demonstrations, fit

torch.set_num_threads(1)

STEPS = 160  # optimizer steps per timed call (10 epochs of 1000 rows at batch 64)
BATCH = 64
LR = 0.01
PEER = "imitation==1.0.1"
TORCH_PIN = "torch==2.13.0"


def _policy() -> GaussianPolicy:
    torch.manual_seed(0)
    return GaussianPolicy(2, 2, hidden=(32, 32))


def hand_loop(
    policy: GaussianPolicy, obs: torch.Tensor, act: torch.Tensor, validate: bool | None = None
) -> Callable[[], None]:
    """The usual loop, written by hand with index sampling instead of a DataLoader:
    a permutation per epoch, cut into batches, plain torch.distributions (with torch's
    default argument validation, or ``validate_args=validate``)."""
    opt = torch.optim.Adam(policy.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(0)
    n = len(obs)

    def run() -> None:
        done = 0
        while done < STEPS:
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, BATCH):
                idx = perm[start : start + BATCH]
                normal = Normal(policy.net(obs[idx]), policy.log_std.exp(), validate_args=validate)
                dist = Independent(normal, 1, validate_args=validate)
                loss = -dist.log_prob(act[idx]).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
                if done == STEPS:
                    return

    return run


def dataloader_loop(
    policy: GaussianPolicy, obs: torch.Tensor, act: torch.Tensor
) -> Callable[[], None]:
    """The common loop: DataLoader(TensorDataset(...), shuffle=True)."""
    opt = torch.optim.Adam(policy.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(obs, act), batch_size=BATCH, shuffle=True)

    def run() -> None:
        done = 0
        while done < STEPS:
            for o, a in loader:
                dist = Independent(Normal(policy.net(o), policy.log_std.exp()), 1)
                loss = -dist.log_prob(a).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
                if done == STEPS:
                    return

    return run


def fit_loop(policy: GaussianPolicy, demos: object, checks: bool) -> Callable[[], None]:
    opt = torch.optim.Adam(policy.parameters(), lr=LR)

    def run() -> None:
        fit(policy, demos, steps=STEPS, batch_size=BATCH, optimizer=opt, progress=False,  # type: ignore[arg-type]
            checks=checks)  # fmt: skip

    return run


def main_comparison(rounds: int) -> bool:
    demos = cubic_demonstrations(1000, seed=0)
    obs, act = demos.observations, demos.actions
    variants = {
        "hand loop, validate_args=False": hand_loop(_policy(), obs, act, validate=False),
        "hand-written index loop": hand_loop(_policy(), obs, act),
        "shapesafe fit, checks on": fit_loop(_policy(), demos, True),
        "shapesafe fit, checks off": fit_loop(_policy(), demos, False),
        "DataLoader(TensorDataset) loop": dataloader_loop(_policy(), obs, act),
    }
    times = compare(variants, number=1, rounds=rounds, warmup=2)
    per_step = {k: v / STEPS for k, v in times.items()}
    return report(
        f"one BC step: Gaussian MLP (32, 32), batch {BATCH}, Adam, 1000 rows, 1 thread "
        f"(median of {rounds} interleaved rounds of {STEPS} steps)",
        per_step,
        # the stricter baseline: the hand loop without torch's argument validation
        "hand loop, validate_args=False",
        {"shapesafe fit, checks on": 1.10, "shapesafe fit, checks off": 1.03},
    )


# ----------------------------------------------------------------------------- imitation

CHILD = textwrap.dedent(
    """
    import sys, warnings
    warnings.filterwarnings("ignore")
    sys.path[:0] = [{src!r}, {here!r}]
    import numpy as np, torch, gymnasium as gym
    torch.set_num_threads(1)
    from imitation.algorithms import bc
    from imitation.data.types import Transitions
    from imitation.util import logger as imit_logger
    from _timing import compare
    import bench_bc as B

    demos = B.cubic_demonstrations(1000, seed=0)
    obs, act = demos.observations, demos.actions
    space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
    transitions = Transitions(
        obs=obs.numpy(), acts=act.numpy(), infos=np.array([{{}}] * len(obs)),
        next_obs=obs.numpy(), dones=np.zeros(len(obs), dtype=bool),
    )
    torch.manual_seed(0)
    trainer = bc.BC(
        observation_space=space, action_space=space, rng=np.random.default_rng(0),
        demonstrations=transitions, batch_size=B.BATCH, optimizer_kwargs=dict(lr=B.LR),
        device="cpu", custom_logger=imit_logger.configure(format_strs=[]),
    )
    sizes = [tuple(p.shape) for p in trainer.policy.mlp_extractor.policy_net.parameters()]
    assert sizes == [(32, 2), (32,), (32, 32), (32,)], sizes  # same model size as ours

    def imitation_bc():
        trainer.train(n_batches=B.STEPS, progress_bar=False, log_interval=10**9)

    variants = {{
        "hand-written index loop": B.hand_loop(B._policy(), obs, act),
        "shapesafe fit, checks on": B.fit_loop(B._policy(), demos, True),
        "imitation 1.0.1 BC": imitation_bc,
    }}
    times = compare(variants, number=1, rounds={rounds}, warmup=2)
    for name, t in times.items():
        print(f"{{name}}\\t{{t / B.STEPS}}")
    """
)


def _venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _install_peer(venv_dir: Path) -> str | None:
    """Create the throwaway venv and install the peer; return a reason on failure."""
    py = _venv_python(venv_dir)
    if py.exists():
        probe = subprocess.run([str(py), "-c", "import imitation, jaxtyping, beartype"],
                               capture_output=True)  # fmt: skip
        if probe.returncode == 0:
            return None
    print(f"\ncreating a throwaway venv for {PEER} in {venv_dir} (a few minutes)...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True,
                       capture_output=True)  # fmt: skip
    except subprocess.CalledProcessError as exc:
        return f"python -m venv failed: {exc.stderr.decode(errors='replace').strip()[-300:]}"
    from importlib.metadata import version

    pins = [TORCH_PIN, PEER, f"jaxtyping=={version('jaxtyping')}",
            f"beartype=={version('beartype')}"]  # fmt: skip
    cmd = [str(py), "-m", "pip", "install", "--quiet", *pins]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return f"`pip install {' '.join(pins)}` failed: {tail}"
    return None


def peer_comparison(venv_dir: Path | None, rounds: int) -> bool:
    tmp: str | None = None
    if venv_dir is None:
        tmp = tempfile.mkdtemp(prefix="shapesafe-bench-imitation-")
        venv_dir = Path(tmp) / "venv"
    try:
        reason = _install_peer(venv_dir)
        if reason is not None:
            print(f"\n{PEER} comparison SKIPPED: could not install it ({reason}).")
            print("  the other ratios above are unaffected; rerun with network access, or pass")
            print("  --peer-venv DIR pointing at a venv that has imitation 1.0.1 installed.")
            return True
        code = CHILD.format(src=str(SRC), here=str(HERE), rounds=rounds)
        proc = subprocess.run([str(_venv_python(venv_dir)), "-c", code], capture_output=True,
                              text=True, cwd=HERE)  # fmt: skip
        if proc.returncode != 0:
            tail = "\n    ".join(proc.stderr.strip().splitlines()[-8:])
            print(f"\n{PEER} comparison FAILED to run:\n    {tail}")
            return False
        times = {}
        for line in proc.stdout.strip().splitlines():
            name, t = line.rsplit("\t", 1)
            times[name] = float(t)
        report(
            f"vs {PEER} BC (same data, MLP (32, 32), batch {BATCH}; its own venv, "
            f"{TORCH_PIN}; median of {rounds} interleaved rounds)",
            times,
            "shapesafe fit, checks on",
            {},
        )
        speedup = times["imitation 1.0.1 BC"] / times["shapesafe fit, checks on"]
        good = speedup >= 3.0
        print(f"  imitation / shapesafe fit: {speedup:.2f}x faster  target >= 3.00 "
              f"{'ok' if good else 'MISSED'}")  # fmt: skip
        return good
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=31, help="interleaved rounds")
    parser.add_argument("--skip-peer", action="store_true", help="skip the imitation part")
    parser.add_argument("--peer-venv", type=Path, help="keep/reuse the imitation venv here")
    args = parser.parse_args()
    ok = main_comparison(args.rounds)
    if not args.skip_peer:
        ok &= peer_comparison(args.peer_venv, args.rounds)
    print("\nall targets met" if ok else "\nsome targets missed (noisy machine? rerun)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
