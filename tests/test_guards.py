"""The opt-in memory guards: no_overlap (aliased in-place writes) and no_downcast
(float values silently stored at lower precision)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import shapesafe
from shapesafe import DtypeError, ShapesafeError, UsageError

# --------------------------------------------------------------------------------------
# no_overlap: every aliasing write raises


def _grid() -> torch.Tensor:
    return torch.arange(12.0).reshape(3, 4)


def _square() -> torch.Tensor:
    return torch.arange(9.0).reshape(3, 3)


def _vec() -> torch.Tensor:
    return torch.arange(10.0)


def _mask3() -> torch.Tensor:
    m = torch.zeros(10, dtype=torch.bool)
    m[:3] = True
    return m


def _setitem(x: torch.Tensor, key: Any, value: torch.Tensor) -> None:
    x[key] = value


ALIASED: dict[str, tuple[Callable[[], Any], str, str]] = {
    # name: (write, operator, source argument)
    "shift a history buffer": (lambda: (x := _grid())[:, 1:].copy_(x[:, :-1]), "copy_", "src"),
    "shift by index assignment": (
        lambda: _setitem(x := _grid(), (slice(None), slice(1, None)), x[:, :-1]),
        "copy_",
        "src",
    ),
    "add the transpose": (lambda: (x := _square()).add_(x.T), "add_", "other"),
    "broadcast a row that is written": (lambda: (x := _grid()).mul_(x[0]), "mul_", "other"),
    "index_put_ from an aliased source": (
        lambda: (z := _vec()).index_put_((torch.tensor([0, 1, 2]),), z[1:4]),
        "index_put_",
        "values",
    ),
    "masked_scatter_ from an aliased source": (
        lambda: (z := _vec()).masked_scatter_(_mask3(), z[2:]),
        "masked_scatter_",
        "source",
    ),
    "set_ on a view of the source": (lambda: (z := _vec())[2:].set_(z), "set_", "source"),
    "out= overlapping an input": (
        lambda: torch.add((z := _vec())[:5], 1, out=z[1:6]),
        "add",
        "self",
    ),
    "lerp_ towards a shifted view": (
        lambda: (x := _grid())[:, :3].lerp_(x[:, 1:], 0.5),
        "lerp_",
        "end",
    ),
}


@pytest.mark.parametrize("name", list(ALIASED))
def test_aliased_writes_raise(name: str) -> None:
    write, op, src = ALIASED[name]
    with shapesafe.no_overlap(), pytest.raises(UsageError) as info:
        write()
    err = info.value
    assert (err.function, err.argument) == (op, src)
    assert "overlaps its destination" in str(err)
    assert err.hint == f"write from a copy: pass `{src}.clone()`"


SAFE: dict[str, Callable[[], Any]] = {
    "the very same tensor": lambda: (x := _grid()).add_(x),
    "the same view, built twice": lambda: (x := _grid())[1].mul_(x[1]),
    "broadcast a row that is not written": lambda: (x := _grid())[1:].mul_(x[0]),
    "disjoint rows": lambda: (x := _grid())[0].copy_(x[2]),
    "flip copies first": lambda: (x := _square()).add_(x.flip(0)),
    "a copy of the source": lambda: (x := _grid())[:, 1:].copy_(x[:, :-1].clone()),
    "in place on itself": lambda: _grid().clamp_(0, 5).relu_(),
    "masked_scatter_ from elements not written": lambda: (z := _vec()).masked_scatter_(
        _mask3(), z[3:]
    ),
}


@pytest.mark.parametrize("name", list(SAFE))
def test_no_false_alarm(name: str) -> None:
    with shapesafe.no_overlap():
        SAFE[name]()


def test_training_step_runs_unchanged_under_both_guards() -> None:
    def run(guarded: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        x, y = torch.randn(16, 3), torch.randn(16, 2)
        for _ in range(3):
            if guarded:
                with shapesafe.no_overlap(), shapesafe.no_downcast():
                    loss = (net(x) - y).pow(2).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            else:
                loss = (net(x) - y).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return [p.detach().clone() for p in net.parameters()]

    for a, b in zip(run(True), run(False)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --------------------------------------------------------------------------------------
# the property: raises exactly when the address sets meet at different positions


def _addresses_reference(t: torch.Tensor) -> np.ndarray:
    """Element offsets in the storage, from offset + index . strides, by numpy."""
    idx = np.indices(tuple(t.shape)).reshape(t.dim(), -1)
    return t.storage_offset() + (np.asarray(t.stride())[:, None] * idx).sum(0)


@st.composite
def _view_pairs(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two same-shaped views (slices with steps, maybe transposed) of one 8x8 storage."""
    base = torch.arange(64.0).reshape(8, 8)
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))

    def view() -> torch.Tensor:
        b = base.T if draw(st.booleans()) else base
        rs = draw(st.integers(1, min(3, 7 // max(rows - 1, 1))))
        cs = draw(st.integers(1, min(3, 7 // max(cols - 1, 1))))
        r0 = draw(st.integers(0, 8 - 1 - (rows - 1) * rs))
        c0 = draw(st.integers(0, 8 - 1 - (cols - 1) * cs))
        return b[r0 : r0 + (rows - 1) * rs + 1 : rs, c0 : c0 + (cols - 1) * cs + 1 : cs]

    return base, view(), view()


@given(_view_pairs(), st.sampled_from(["copy_", "add_"]))
def test_raises_exactly_when_addresses_meet_at_other_positions(
    views: tuple[torch.Tensor, torch.Tensor, torch.Tensor], op: str
) -> None:
    _, dest, src = views
    d, s = _addresses_reference(dest), _addresses_reference(src)
    meets = d[:, None] == s[None, :]
    hazard = bool((meets & ~np.eye(d.size, dtype=bool)).any())
    try:
        with shapesafe.no_overlap():
            getattr(dest, op)(src)
    except UsageError:
        assert hazard, "false alarm"
    except RuntimeError as err:  # torch's own (conservative) refusal of a partial overlap
        assert not isinstance(err, ShapesafeError)
        assert not hazard, "a hazard reached torch"
    else:
        assert not hazard, "missed an overlap"


@given(st.integers(1, 6), st.integers(0, 5), st.integers(1, 6))
def test_one_dimensional_windows(n: int, shift: int, length: int) -> None:
    z = torch.arange(16.0)
    dest, src = z[shift : shift + length], z[:length]
    hazard = shift != 0 and shift < length
    try:
        with shapesafe.no_overlap():
            dest.copy_(src)
    except UsageError:
        assert hazard
    else:
        assert not hazard


# --------------------------------------------------------------------------------------
# switches


def test_decorator_form_and_clean_exit() -> None:
    @shapesafe.no_overlap()
    def shift(x: torch.Tensor) -> None:
        x[:, 1:] = x[:, :-1]

    with pytest.raises(UsageError):
        shift(_grid())
    x = _grid()
    x[:, 1:] = x[:, :-1]  # outside the guard (also after an error inside): torch's behaviour
    assert x[0].tolist() == [0.0, 0.0, 0.0, 0.0]  # the corruption the guard exists for


def test_one_decorated_function_in_several_threads() -> None:
    import threading

    @shapesafe.no_overlap()
    def shift(x: torch.Tensor, clone: bool) -> None:
        x[:, 1:] = x[:, :-1].clone() if clone else x[:, :-1]

    outcomes: list[str] = []

    def worker(clone: bool) -> None:
        for _ in range(20):
            try:
                shift(_grid(), clone)
                outcomes.append("ok" if clone else "missed")
            except UsageError:
                outcomes.append("raised" if not clone else "false alarm")

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(outcomes)) == ["ok", "raised"] and len(outcomes) == 80
    x = _grid()
    x[:, 1:] = x[:, :-1]  # no guard left behind in this thread


def test_checks_off_pushes_no_guard() -> None:
    with shapesafe.enabled(False), shapesafe.no_overlap(), shapesafe.no_downcast():
        (x := _grid())[:, 1:].copy_(x[:, :-1])
        torch.zeros(2, dtype=torch.bfloat16).copy_(torch.ones(2))


def test_compiled_function_runs_eagerly_and_is_checked() -> None:
    # dynamo does not compile while a dispatch mode is active: the function runs
    # eagerly, under the guard (with fullgraph=True torch itself refuses instead)
    torch._dynamo.reset()

    def shift(x: torch.Tensor) -> torch.Tensor:
        x[:, 1:].copy_(x[:, :-1])
        return x * 2

    compiled = torch.compile(shift, backend="eager")
    with shapesafe.no_overlap(), pytest.raises(UsageError):
        compiled(_grid())


# --------------------------------------------------------------------------------------
# no_downcast


LOSSY = [
    (torch.float32, torch.bfloat16, "rounded"),
    (torch.float32, torch.float16, "rounded"),
    (torch.float64, torch.float32, "rounded"),
    (torch.bfloat16, torch.float16, "rounded"),
    (torch.float16, torch.bfloat16, "rounded"),
    (torch.float32, torch.int64, "truncated"),
    (torch.float32, torch.bool, "truncated"),
]


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@pytest.mark.parametrize(("src", "dest", "how"), LOSSY)
def test_store_into_lower_precision_raises(src: torch.dtype, dest: torch.dtype, how: str) -> None:
    buf = torch.zeros(5, 2, dtype=dest)
    actions = torch.randn(2).to(src)
    with shapesafe.no_downcast(), pytest.raises(DtypeError) as info:
        buf[3] = actions
    err = info.value
    assert (err.function, err.argument) == ("copy_", "src")
    s, d = _name(src), _name(dest)
    assert err.got == f"source (2,) {s}, destination (2,) {d}"
    article = "an" if d.startswith("int") else "a"
    assert f"{s} values stored into {article} {d} tensor would be silently {how}" in str(err)
    assert f"`.to(torch.{d})`" in str(err.hint)


STORES: dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], Any], str, str]] = {
    # name: (write buf from x, operator, source argument)
    "buf[i] = x": (lambda b, x: _setitem(b, 1, x[0]), "copy_", "src"),
    "buf[:, j] = x": (lambda b, x: _setitem(b, (slice(None), 2), x[:, 0]), "copy_", "src"),
    "buf[1:3] = x": (lambda b, x: _setitem(b, slice(1, 3), x[:2]), "copy_", "src"),
    "buf[:] = x": (lambda b, x: _setitem(b, slice(None), x), "copy_", "src"),
    "copy_": (lambda b, x: b.copy_(x), "copy_", "src"),
    "fill_ with a tensor": (lambda b, x: b.fill_(x[0, 0]), "fill_", "value"),
    "out=": (lambda b, x: torch.mul(x, 2, out=b), "mul", "self"),
}


@pytest.mark.parametrize("name", list(STORES))
def test_every_store_spelling_is_caught(name: str) -> None:
    write, op, arg = STORES[name]
    buf = torch.zeros(4, 3, dtype=torch.bfloat16)
    with shapesafe.no_downcast(), pytest.raises(DtypeError) as info:
        write(buf, torch.randn(4, 3))
    assert (info.value.function, info.value.argument) == (op, arg)
    assert "float32 values stored into a bfloat16 tensor" in str(info.value)


@pytest.mark.parametrize("name", list(STORES))
def test_acknowledged_or_lossless_stores_pass(name: str) -> None:
    write, _, _ = STORES[name]
    with shapesafe.no_downcast():
        write(torch.zeros(4, 3, dtype=torch.bfloat16), torch.randn(4, 3).to(torch.bfloat16))
        write(torch.zeros(4, 3), torch.randn(4, 3))  # same dtype
        write(torch.zeros(4, 3), torch.randn(4, 3).to(torch.bfloat16))  # widening
        write(torch.zeros(4, 3, dtype=torch.float64), torch.randn(4, 3))


TORCH_REFUSES: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
    "buf[idx] = x": lambda b, x: _setitem(b, torch.tensor([0, 2]), x[:2]),
    "buf[mask] = x": lambda b, x: _setitem(b, torch.tensor([1, 0, 1, 0]).bool(), x[:2]),
    "index_copy_": lambda b, x: b.index_copy_(0, torch.tensor([3, 1]), x[:2]),
    "masked_scatter_": lambda b, x: b.masked_scatter_(b > -1, x),
    "scatter_": lambda b, x: b.scatter_(0, torch.zeros(1, 3, dtype=torch.long), x[:1]),
}


@pytest.mark.parametrize("name", list(TORCH_REFUSES))
def test_what_torch_refuses_itself(name: str) -> None:
    # why the guard leaves these alone (documented): no silent store to catch
    with pytest.raises(RuntimeError, match="dtype"):
        TORCH_REFUSES[name](torch.zeros(4, 3, dtype=torch.bfloat16), torch.randn(4, 3))


def test_load_state_dict_into_a_lower_precision_module() -> None:
    # torch's load_state_dict catches errors of its copy_ and lists them in its own
    # RuntimeError: our message is inside it
    net = nn.Linear(3, 4).to(torch.bfloat16)
    state = nn.Linear(3, 4).state_dict()
    with shapesafe.no_downcast(), pytest.raises(RuntimeError, match="silently rounded"):
        net.load_state_dict(state)
    with shapesafe.no_downcast():
        net.load_state_dict({k: v.to(torch.bfloat16) for k, v in state.items()})


def test_integer_outputs_of_out_ops_are_not_stores() -> None:
    x = torch.randn(4, 3)
    with shapesafe.no_downcast():
        torch.argmax(x, dim=1, out=torch.empty(4, dtype=torch.long))
        torch.lt(x, 0, out=torch.empty(4, 3, dtype=torch.bool))


def test_not_flagged_by_design() -> None:
    buf = torch.zeros(4, dtype=torch.bfloat16)
    with shapesafe.no_downcast():
        buf[0] = 0.1  # a Python scalar
        buf.add_(torch.randn(4))  # arithmetic follows torch's promotion rules
        buf.copy_(torch.randn(4).to(torch.bfloat16))  # the explicit cast itself
        torch.zeros(4).copy_(torch.arange(4))  # int -> float
        torch.zeros(4, dtype=torch.long).copy_(torch.arange(4, dtype=torch.int32))


def test_the_bug_it_exists_for() -> None:
    """Sampled float32 actions stored in a bfloat16 rollout buffer: the log-probability
    re-evaluated from the buffer is not the one recorded (the PPO ratio is not 1)."""
    torch.manual_seed(0)
    dist = torch.distributions.Normal(torch.zeros(64, 2), 0.01)
    actions = dist.sample()
    recorded = dist.log_prob(actions).sum(-1)
    buf = torch.zeros(64, 2, dtype=torch.bfloat16)
    buf[:] = actions  # unguarded: silently rounded
    ratio = (dist.log_prob(buf.float()).sum(-1) - recorded).exp()
    assert (ratio - 1).abs().max() > 0.01
    with shapesafe.no_downcast(), pytest.raises(DtypeError):
        buf[:] = actions


@pytest.mark.values
def test_values_are_torch_values() -> None:
    # what runs under the guards computes what plain torch computes (also with
    # SHAPESAFE_DISABLE=1, where the guards push nothing)
    torch.manual_seed(1)
    hist = torch.randn(4, 5)
    expected = torch.cat([hist[:, :1], hist[:, :-1]], dim=1)
    with shapesafe.no_overlap(), shapesafe.no_downcast():
        hist[:, 1:] = hist[:, :-1].clone()
        buf = torch.zeros(4, 5, dtype=torch.bfloat16)
        buf[:] = hist.to(torch.bfloat16)
    torch.testing.assert_close(hist, expected, rtol=0, atol=0)
    torch.testing.assert_close(buf, expected.to(torch.bfloat16), rtol=0, atol=0)
