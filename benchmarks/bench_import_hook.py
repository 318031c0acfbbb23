"""Decoration cost of ``install_import_hook`` on a generated package of 500 annotated
functions (10 modules of 50: a mix of plain functions and module methods).

Each variant imports the package in a fresh interpreter (torch and shapesafe imported
first, outside the timed part), so the numbers are the import of the package alone:
without the hook, and with it. Interleaved repeats; medians printed with the ratio and
the cost per decorated function.

Run: ``python benchmarks/bench_import_hook.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MODULES, PER_MODULE = 10, 50

FUNCTION = """
def f{i}(obs: Float[Tensor, "batch obs"], act: Int[Tensor, "batch"]) -> Float[Tensor, "batch"]:
    return obs.sum(-1) + act
"""
METHOD = """
    def m{i}(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch"]:
        return obs.sum(-1)
"""

RUN = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch, shapesafe  # not timed
hook = shapesafe.install_import_hook("benchpkg") if {hook} else None
start = time.perf_counter()
import benchpkg.all_modules
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "functions": len(hook.stats.functions) if hook else 0}}))
"""


def make_package(root: Path) -> None:
    pkg = root / "benchpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    names = []
    for m in range(MODULES):
        lines = ["from jaxtyping import Float, Int", "from torch import Tensor", ""]
        half = PER_MODULE // 2
        lines += [FUNCTION.format(i=i) for i in range(half)]
        lines.append("class Agent:")
        lines += [METHOD.format(i=i) for i in range(PER_MODULE - half)]
        (pkg / f"mod{m}.py").write_text("\n".join(lines))
        names.append(f"mod{m}")
    (pkg / "all_modules.py").write_text("\n".join(f"from benchpkg import {n}" for n in names))


def run(root: Path, hook: bool) -> dict[str, float]:
    code = RUN.format(root=str(root), hook=hook)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_package(root)
        run(root, False)  # write the bytecode cache once, outside the timings
        plain, hooked, count = [], [], 0
        for _ in range(opts.repeats):
            plain.append(run(root, False)["seconds"])
            result = run(root, True)
            hooked.append(result["seconds"])
            count = int(result["functions"])
    p, h = statistics.median(plain), statistics.median(hooked)
    print(f"package of {MODULES * PER_MODULE} annotated functions in {MODULES} modules")
    print(f"  import without hook: {p * 1e3:8.1f} ms")
    print(f"  import with hook:    {h * 1e3:8.1f} ms  ({count} functions checked)")
    print(f"  ratio {h / p:.2f}x; decoration {(h - p) / max(count, 1) * 1e6:.0f} us per function")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
