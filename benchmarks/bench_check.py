"""How much does @shapesafe.check cost? Ratios to raw torch, measured in one run.

Targets (issue 3): gather of a (64, 6) tensor by (64,) actions, 1 thread:
checked/raw <= 1.5; disabled at run time/raw <= 1.05; disabled by SHAPESAFE_DISABLE at
import: the decorator returns the function itself (1.00x). jaxtyping+beartype and
hand-written asserts are printed beside ours. Small MLP forward (batch 64): <= 1.10.

Run: python benchmarks/bench_check.py
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch
from jaxtyping import Float, Int, jaxtyped
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare, report

import shapesafe

torch.set_num_threads(1)


def raw(q: Tensor, a: Tensor) -> Tensor:
    return q.gather(1, a.unsqueeze(1)).squeeze(1)


@shapesafe.check
def checked(q: Float[Tensor, "batch act"], a: Int[Tensor, "batch"]) -> Float[Tensor, "batch"]:
    return q.gather(1, a.unsqueeze(1)).squeeze(1)


def asserts(q: Tensor, a: Tensor) -> Tensor:
    assert q.ndim == 2 and q.is_floating_point()
    assert a.shape == (q.shape[0],) and not a.is_floating_point()
    out = q.gather(1, a.unsqueeze(1)).squeeze(1)
    assert out.shape == (q.shape[0],)
    return out


def _jaxtyping_beartype() -> object:
    from beartype import beartype

    @jaxtyped(typechecker=beartype)
    def jt(q: Float[Tensor, "batch act"], a: Int[Tensor, "batch"]) -> Float[Tensor, "batch"]:
        return q.gather(1, a.unsqueeze(1)).squeeze(1)

    return jt


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 6)
        )

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs)


class CheckedMLP(MLP):
    @shapesafe.check
    def forward(self, obs: Float[Tensor, "batch 8"]) -> Float[Tensor, "batch 6"]:
        return self.net(obs)


def _env_disabled_ratio() -> str:
    code = (
        "import sys, os; sys.path.insert(0, os.path.dirname(sys.argv[1]));"
        "import torch, shapesafe; from _timing import compare; torch.set_num_threads(1)\n"
        "def f(q, a):\n    return q.gather(1, a.unsqueeze(1)).squeeze(1)\n"
        "g = shapesafe.check(f); assert g is f, 'decorator must return the function itself'\n"
        "q = torch.randn(64, 6); a = torch.randint(0, 6, (64,))\n"
        "t = compare({'raw': lambda: f(q, a), 'env': lambda: g(q, a)}, number=1000, rounds=11)\n"
        "print(f\"{t['env'] / t['raw']:.2f}\")\n"
    )
    env = dict(os.environ, SHAPESAFE_DISABLE="1")
    out = subprocess.run(
        [sys.executable, "-c", code, __file__], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def main() -> int:
    q = torch.randn(64, 6)
    a = torch.randint(0, 6, (64,))
    jt = _jaxtyping_beartype()

    def run_disabled() -> Tensor:
        return checked(q, a)

    times = compare(
        {
            "raw torch": lambda: raw(q, a),
            "shapesafe.check": lambda: checked(q, a),
            "hand-written asserts": lambda: asserts(q, a),
            "jaxtyping+beartype": lambda: jt(q, a),  # type: ignore[operator]
        }
    )
    shapesafe.disable()
    off = compare({"raw torch": lambda: raw(q, a), "shapesafe disabled (runtime)": run_disabled})
    shapesafe.enable()
    times["shapesafe disabled (runtime)"] = (
        off["shapesafe disabled (runtime)"] * times["raw torch"] / off["raw torch"]
    )
    ok = report(
        "gather (64, 6) by (64,), 1 thread",
        times,
        "raw torch",
        {"shapesafe.check": 1.5, "shapesafe disabled (runtime)": 1.05},
    )
    print(
        f"  {'shapesafe disabled (env, import)':<34} {'':>9} {_env_disabled_ratio():>6}x  (decorator returns the function itself)"
    )

    torch.manual_seed(0)
    plain, chk = MLP(), CheckedMLP()
    chk.load_state_dict(plain.state_dict())
    obs = torch.randn(64, 8)
    with torch.no_grad():
        mlp = compare(
            {"raw forward": lambda: plain(obs), "checked forward": lambda: chk(obs)}, number=500
        )
    ok &= report("small MLP forward, batch 64", mlp, "raw forward", {"checked forward": 1.10})
    print("\nall targets met" if ok else "\nsome targets missed (noisy machine? rerun)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
