"""The checker: accepts exactly the shapes an annotation describes, binds dims across
arguments and the return value, and explains every rejection."""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
import threading
from typing import NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Int, Shaped
from torch import Tensor, nn

import shapesafe
from shapesafe import AnnotationError, DtypeError, ShapeError
from shapesafe.testing import shapes

# --------------------------------------------------------------------------------------
# an independent reference predicate for dim strings


def ref_match(tokens: list[str], shape: tuple[int, ...], memo: dict[str, object]) -> bool:
    """Does ``shape`` match ``tokens`` given earlier bindings ``memo`` (updated on success)?

    Written from jaxtyping's documented semantics, not from shapesafe's code: a name binds
    a size, an int is a fixed size, ``_`` is any size, ``*name`` binds a run of sizes,
    ``...`` matches any run."""
    var = [i for i, t in enumerate(tokens) if t.startswith("*") or t == "..."]
    if var:
        (i,) = var
        before, after = tokens[:i], tokens[i + 1 :]
        if len(shape) < len(before) + len(after):
            return False
        middle = shape[len(before) : len(shape) - len(after)]
        pairs = list(zip(before, shape[: len(before)])) + list(
            zip(after, shape[len(shape) - len(after) :])
        )
        trial = dict(memo)
        if tokens[i] != "...":
            key = tokens[i]
            if key in trial and trial[key] != tuple(middle):
                return False
            trial[key] = tuple(middle)
    else:
        if len(shape) != len(tokens):
            return False
        pairs = list(zip(tokens, shape))
        trial = dict(memo)
    for tok, size in pairs:
        if tok == "_":
            continue
        if "=" in tok:  # jaxtyping: `k=2` is just `2`, the name documents it
            tok = tok.split("=")[1]
        if tok.startswith("#"):
            if size == 1:
                continue
            tok = tok[1:]
        if tok.isdigit():
            if int(tok) != size:
                return False
            continue
        if tok in trial and trial[tok] != size:
            return False
        trial[tok] = size
    memo.clear()
    memo.update(trial)
    return True


single = st.sampled_from(["a", "b", "c", "_", "1", "2", "3", "#b", "#2", "k=2"])


@st.composite
def dim_specs(draw: st.DrawFn) -> list[str]:
    tokens = draw(
        st.lists(single, min_size=0, max_size=4).filter(
            lambda ts: ts.count("#b") + ("b" in ts and "#b" in ts) <= 1
        )
    )
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(tokens)))
        tokens.insert(pos, draw(st.sampled_from(["*v", "..."])))
    return tokens


shapes_st = st.lists(st.integers(1, 4), min_size=0, max_size=6).map(tuple)


def make_fn(spec_x: str, spec_y: str, as_numpy: bool = False):  # type: ignore[no-untyped-def]
    if as_numpy:

        @shapesafe.check
        def fn(x: Shaped[np.ndarray, spec_x], y: Shaped[np.ndarray, spec_y]) -> None:
            return None

        return fn

    @shapesafe.check
    def fn(x: Shaped[Tensor, spec_x], y: Shaped[Tensor, spec_y]) -> None:  # type: ignore[no-redef]
        return None

    return fn


def _rank_fits(tokens: list[str], shape: tuple[int, ...], memo: dict[str, object]) -> bool:
    """Does the rank fit (a ``*name`` bound earlier fixes its run's length)?"""
    for t in tokens:
        if t in memo and t.startswith("*"):
            return len(shape) == len(tokens) - 1 + len(memo[t])  # type: ignore[arg-type]
    if any(t.startswith("*") or t == "..." for t in tokens):
        return len(shape) >= len(tokens) - 1
    return len(shape) == len(tokens)


@pytest.mark.values
@given(dim_specs(), dim_specs(), shapes_st, shapes_st, st.booleans())
def test_accepts_exactly_the_matching_shapes(
    tx: list[str], ty: list[str], sx: tuple[int, ...], sy: tuple[int, ...], as_numpy: bool
) -> None:
    fn = make_fn(" ".join(tx), " ".join(ty), as_numpy)
    memo: dict[str, object] = {}
    expected = ref_match(tx, sx, memo) and ref_match(ty, sy, memo)
    x, y = (np.zeros(sx), np.zeros(sy)) if as_numpy else (torch.zeros(sx), torch.zeros(sy))
    if not shapesafe.is_enabled():
        fn(x, y)  # disabled: never raises
        return
    if expected:
        fn(x, y)
    else:
        with pytest.raises(ShapeError) as info:
            fn(x, y)
        msg = str(info.value)
        assert msg.startswith("fn(): argument `")
        failing = "x" if not ref_match(tx, sx, {}) else "y"
        assert f"argument `{failing}`" in msg
        assert info.value.argument == failing
        assert "could not explain" not in msg
        memo = {}
        if failing == "y":
            ref_match(tx, sx, memo)
        tokens, shape = (tx, sx) if failing == "x" else (ty, sy)
        axis = info.value.axis
        if axis is not None:  # a size problem: the message names the axis
            assert 0 <= axis < len(shape)
            assert f"argument `{failing}` axis {axis}" in msg
        else:  # only a rank problem goes without an axis; it shows both shapes
            assert not _rank_fits(tokens, shape, memo)
            assert "expected shape (" in msg and ", got shape (" in msg


@given(shapes(min_dims=1, max_dims=3, max_side=5), st.data())
def test_return_value_binds_with_arguments(shape: tuple[int, ...], data: st.DataObject) -> None:
    other = data.draw(st.one_of(st.just(shape), shapes(min_dims=1, max_dims=3, max_side=5)))

    @shapesafe.check
    def ident(x: Float[Tensor, "*s"]) -> Float[Tensor, "*s"]:
        return torch.zeros(other)

    if other == shape:
        assert ident(torch.zeros(shape)).shape == shape
    elif len(other) == len(shape):
        with pytest.raises(ShapeError, match=r"ident\(\): return value axis 0 \('\*s'\)"):
            ident(torch.zeros(shape))
    else:  # a run of another length is a rank problem: both whole shapes are shown
        n = len(shape)
        with pytest.raises(
            ShapeError,
            match=rf"ident\(\): return value: expected shape \(\*s,\) = \({', '.join(map(str, shape))},?\) "
            rf"\[{n} ax[ie]s\], got shape \(",
        ):
            ident(torch.zeros(shape))


DTYPES = [torch.float32, torch.float64, torch.int64, torch.int32, torch.bool, torch.uint8]
FAMILIES = {
    Float: {torch.float32, torch.float64},
    Int: {torch.int64, torch.int32},
    Bool: {torch.bool},
    Shaped: set(DTYPES),
}


@pytest.mark.values
@given(st.sampled_from(list(FAMILIES)), st.sampled_from(DTYPES), st.booleans())
def test_dtype_families_match_torch_dtypes(family, dtype: torch.dtype, as_numpy: bool) -> None:  # type: ignore[no-untyped-def]
    @shapesafe.check
    def f(x: family[Tensor | np.ndarray, "n"]) -> None:  # type: ignore[valid-type]
        return None

    value: object = torch.zeros(3, dtype=dtype)
    if as_numpy:
        value = torch.zeros(3, dtype=dtype).numpy()
    ok = dtype in FAMILIES[family]
    if ok or not shapesafe.is_enabled():
        f(value)
    else:
        with pytest.raises(DtypeError, match=r"f\(\): argument `x`: expected dtype"):
            f(value)


# --------------------------------------------------------------------------------------
# messages, one test per kind


@shapesafe.check
def td_target(
    rewards: Float[Tensor, "batch"], q_next: Float[Tensor, "batch"], gamma: float = 0.99
) -> Float[Tensor, "batch"]:
    return rewards + gamma * q_next


def test_trailing_one_gets_squeeze_hint() -> None:
    with pytest.raises(ShapeError) as info:
        td_target(torch.zeros(64), torch.zeros(64, 1))
    msg = str(info.value)
    assert msg.startswith(
        "td_target(): argument `q_next`: expected shape (batch,) = (64,) [1 axis], "
        "got shape (64, 1) [2 axes]"
    )
    assert "bindings: batch=64 (from `rewards`)" in msg
    assert "hint: `q_next` has a trailing axis of size 1; did you mean q_next.squeeze(-1)?" in msg
    assert info.value.function == "td_target"
    assert info.value.argument == "q_next"
    assert info.value.bindings == {"batch": 64}


def test_size_mismatch_names_axis_and_binder() -> None:
    with pytest.raises(ShapeError, match=r"\(bound by `rewards`\)") as info:
        td_target(torch.zeros(64), torch.zeros(63))
    assert (info.value.function, info.value.argument, info.value.axis) == ("td_target", "q_next", 0)
    assert (info.value.expected, info.value.got) == ("batch=64 (bound by `rewards`)", "63")


def test_missing_trailing_axis_gets_unsqueeze_hint() -> None:
    @shapesafe.check
    def value_loss(v: Float[Tensor, "batch 1"], target: Float[Tensor, "batch 1"]) -> Tensor:
        return ((v - target) ** 2).mean()

    with pytest.raises(ShapeError, match=r"did you mean target\.unsqueeze\(-1\)\?"):
        value_loss(torch.zeros(8, 1), torch.zeros(8))


def test_transposed_gets_transpose_hint() -> None:
    @shapesafe.check
    def policy(obs: Float[Tensor, "batch obs"], w: Float[Tensor, "obs act"]) -> Tensor:
        return obs @ w

    with pytest.raises(
        ShapeError, match=r"looks transposed; did you mean w\.transpose\(-2, -1\)\?"
    ):
        policy(torch.zeros(5, 3), torch.zeros(2, 3))


def test_missing_batch_axis_hint() -> None:
    @shapesafe.check
    def act(obs: Float[Tensor, "batch 3"]) -> Tensor:
        return obs

    with pytest.raises(
        ShapeError, match=r"missing its leading \(batch\) axis; .* obs\.unsqueeze\(0\)"
    ):
        act(torch.zeros(3))


def test_dtype_error_with_float_hint() -> None:
    with pytest.raises(DtypeError, match=r"hint: convert with q_next\.float\(\)") as info:
        td_target(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    assert (info.value.argument, info.value.got) == ("q_next", "dtype int64")
    assert info.value.expected is not None and info.value.expected.startswith("dtype Float")


def test_float_index_gets_long_hint() -> None:
    @shapesafe.check
    def pick(q: Float[Tensor, "b a"], a: Int[Tensor, "b"]) -> Float[Tensor, "b"]:
        return q.gather(1, a[:, None]).squeeze(1)

    with pytest.raises(DtypeError, match=r"indices must be integers; convert with a\.long\(\)"):
        pick(torch.zeros(2, 3), torch.zeros(2))


def test_numpy_where_tensor_expected() -> None:
    with pytest.raises(
        DtypeError, match=r"`rewards` is a numpy array; convert it with torch\.as_tensor\(rewards\)"
    ):
        td_target(np.zeros(4), torch.zeros(4))


def test_non_tensor_annotation_checked() -> None:
    with pytest.raises(
        DtypeError, match=r"td_target\(\): argument `gamma`: expected float, got str"
    ):
        td_target(torch.zeros(4), torch.zeros(4), gamma="0.9")
    assert td_target(torch.zeros(4), torch.zeros(4), gamma=1).shape == (4,)  # int is a float


def test_generic_annotation_checked_with_beartype() -> None:
    @shapesafe.check
    def f(sizes: list[int]) -> int:
        return sum(sizes)

    assert f([1, 2]) == 3
    with pytest.raises(DtypeError, match=r"f\(\): argument `sizes`\[0\]: expected int, got str"):
        f(["1", "2"])


def test_return_value_message() -> None:
    @shapesafe.check
    def bad(x: Float[Tensor, "b"]) -> Float[Tensor, "b"]:
        return x[:, None]

    with pytest.raises(ShapeError, match=r"bad\(\): return value: expected shape \(b,\) = \(3,\)"):
        bad(torch.zeros(3))


class Step(NamedTuple):
    action: Float[Tensor, "batch act"]
    log_prob: Float[Tensor, "batch"]


@dataclasses.dataclass
class Batch:
    obs: Float[Tensor, "batch obs"]
    act: Float[Tensor, "batch act"]


def test_namedtuple_and_dataclass_fields() -> None:
    @shapesafe.check
    def sample(obs: Float[Tensor, "batch obs"], act_dim: int) -> Step:
        return Step(torch.zeros(obs.shape[0], act_dim), torch.zeros(obs.shape[0], 1))

    with pytest.raises(
        ShapeError, match=r"sample\(\): return value\.log_prob: expected shape \(batch,\)"
    ):
        sample(torch.zeros(4, 3), 2)

    @shapesafe.check
    def split(b: Batch) -> Float[Tensor, "batch"]:
        return b.obs.sum(-1)

    assert split(Batch(torch.zeros(5, 3), torch.zeros(5, 2))).shape == (5,)
    with pytest.raises(ShapeError, match=r"split\(\): argument `b`\.act axis 0 \('batch'\)"):
        split(Batch(torch.zeros(5, 3), torch.zeros(4, 2)))


def test_tuple_returns() -> None:
    @shapesafe.check
    def two(x: Float[Tensor, "n"]) -> tuple[Float[Tensor, "n"], Int[Tensor, "n"]]:
        return x, x

    with pytest.raises(DtypeError, match=r"two\(\): return value\[1\]: expected dtype Int"):
        two(torch.zeros(3))

    @shapesafe.check
    def three(x: Float[Tensor, "n"]) -> tuple[Float[Tensor, "n"], Float[Tensor, "n"]]:
        return (x, x, x)  # type: ignore[return-value]

    with pytest.raises(ShapeError, match=r"three\(\): return value: expected a tuple of length 2"):
        three(torch.zeros(3))

    @shapesafe.check
    def many(x: Float[Tensor, "n"]) -> tuple[Float[Tensor, "n"], ...]:
        return (x, x[:2])

    with pytest.raises(ShapeError, match=r"many\(\): return value\[1\] axis 0 \('n'\)"):
        many(torch.zeros(3))


def test_optional_and_union() -> None:
    @shapesafe.check
    def f(
        x: Float[Tensor, "b d"], mask: Float[Tensor, "b"] | None = None
    ) -> Float[Tensor, "b d"] | Float[Tensor, "b"]:
        return x if mask is None else mask

    assert f(torch.zeros(2, 3)).shape == (2, 3)
    assert f(torch.zeros(2, 3), torch.zeros(2)).shape == (2,)
    with pytest.raises(ShapeError, match=r"f\(\): argument `mask` axis 0 \('b'\): expected b=2"):
        f(torch.zeros(2, 3), torch.zeros(3))

    @shapesafe.check
    def g(x: Float[Tensor, "b"] | Float[Tensor, "b 2"], y: Float[Tensor, "b"]) -> None:
        return None

    g(torch.zeros(3), torch.zeros(3))
    g(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(DtypeError, match=r"g\(\): argument `x`: expected one of"):
        g(torch.zeros(3, 5), torch.zeros(3))
    with pytest.raises(ShapeError, match=r"g\(\): argument `y` axis 0 \('b'\): expected b=3"):
        g(torch.zeros(3, 2), torch.zeros(4))


def test_symbolic_and_fixed_named_dims() -> None:
    @shapesafe.check
    def cat(x: Float[Tensor, "n"], y: Float[Tensor, "m"]) -> Float[Tensor, "n+m"]:
        return torch.cat([x, y, y])

    with pytest.raises(
        ShapeError, match=r"cat\(\): return value axis 0 \('n\+m'\): expected n\+m=5, got 7"
    ):
        cat(torch.zeros(3), torch.zeros(2))

    @shapesafe.check
    def head(x: Float[Tensor, "batch act=2"]) -> None:
        return None

    with pytest.raises(ShapeError, match=r"argument `x` axis 1 \('act=2'\): expected act=2, got 3"):
        head(torch.zeros(4, 3))


def test_variadic_dims() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "*batch act"], y: Float[Tensor, "*batch"]) -> None:
        return None

    f(torch.zeros(2, 3, 4), torch.zeros(2, 3))
    f(torch.zeros(4), torch.zeros(()))
    with pytest.raises(
        ShapeError, match=r"argument `y` axis 0 \('\*batch'\): expected \*batch=\(2, 3\)"
    ):
        f(torch.zeros(2, 3, 4), torch.zeros(2, 4))


def test_scalar_annotation() -> None:
    @shapesafe.check
    def loss(x: Float[Tensor, "b"]) -> Float[Tensor, ""]:
        return x

    with pytest.raises(ShapeError, match=r"is not a scalar") as info:
        loss(torch.zeros(3))
    assert (info.value.argument, info.value.expected, info.value.got) == (
        "return value",
        "shape () [0 axes]",
        "(3,)",
    )


def test_numpy_arrays_are_checked() -> None:
    @shapesafe.check
    def sim_step(
        obs: Float[np.ndarray, "n 3"], act: Int[np.ndarray, "n"]
    ) -> Float[np.ndarray, "n 3"]:
        return obs + act[:, None]

    assert sim_step(np.zeros((2, 3), np.float32), np.zeros(2, np.int64)).shape == (2, 3)
    with pytest.raises(
        ShapeError, match=r"sim_step\(\): argument `act` axis 0 \('n'\): expected n=2"
    ):
        sim_step(np.zeros((2, 3)), np.zeros(3, np.int64))
    with pytest.raises(
        DtypeError, match=r"`obs` is a tensor; convert it with obs\.detach\(\)\.cpu\(\)\.numpy\(\)"
    ):
        sim_step(torch.zeros(2, 3), np.zeros(2, np.int64))


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ("a, b", "invalid annotation: Axes should be separated with spaces, not commas"),
        ("*a *b", "invalid annotation: Cannot use variadic specifiers"),
        ("#n n", "appears twice"),
        ("*#b", "broadcastable variadic"),
    ],
)
def test_bad_annotations_fail_at_decoration(dims: str, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):

        @shapesafe.check
        def f(x: Shaped[Tensor, dims]) -> None:
            return None


# --------------------------------------------------------------------------------------
# signatures and decoration forms


def test_signature_forms_are_preserved() -> None:
    @shapesafe.check
    def f(
        a: Float[Tensor, "n"],
        /,
        b: Float[Tensor, "n"],
        *rest: Float[Tensor, "n"],
        scale: float = 2.0,
        **extra: Float[Tensor, "n"],
    ) -> Float[Tensor, "n"]:
        out = a + b
        for r in rest:
            out = out + r
        for e in extra.values():
            out = out + e
        return out * scale

    x = torch.ones(3)
    assert torch.equal(f(x, x, x, scale=1.0, z=x), torch.full((3,), 4.0))
    assert f.__name__ == "f" and f.__wrapped__ is not None  # type: ignore[attr-defined]
    with pytest.raises(
        ShapeError, match=r"f\(\): argument `rest`\[1\] axis 0 \('n'\): expected n=3"
    ):
        f(x, x, x, torch.ones(2))
    with pytest.raises(ShapeError, match=r"argument `extra`\['z'\] axis 0 \('n'\): expected n=3"):
        f(x, x, z=torch.ones(4))
    with pytest.raises(TypeError):  # Python's own signature errors stay Python's
        f(x)  # type: ignore[call-arg]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    @shapesafe.check
    def forward(self, x: Float[Tensor, "batch 3"]) -> Float[Tensor, "batch 2"]:
        return self.fc(x)

    @staticmethod
    @shapesafe.check
    def helper(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x


def test_module_forward_and_staticmethod() -> None:
    net = Net()
    assert net(torch.zeros(4, 3)).shape == (4, 2)
    with pytest.raises(
        ShapeError, match=r"Net\.forward\(\): argument `x` axis 1: expected 3, got 4"
    ):
        net(torch.zeros(4, 4))
    with pytest.raises(
        ShapeError, match=r"Net\.helper\(\): return value|Net\.helper\(\): argument `x`"
    ):
        Net.helper(torch.zeros(2, 2))


def test_decorating_a_module_class_checks_forward() -> None:
    @shapesafe.check
    class Head(nn.Module):
        def forward(self, x: Float[Tensor, "b 2"]) -> Float[Tensor, "b"]:
            return x.sum(-1)

    with pytest.raises(ShapeError, match=r"Head\.forward\(\): argument `x`"):
        Head()(torch.zeros(3))


def test_forward_references_resolve_on_first_call() -> None:
    @shapesafe.check
    def f(x: Later) -> Float[Tensor, "n"]:
        return x.t

    global Later

    class Later:
        t = torch.zeros(2, 2)

    with pytest.raises(ShapeError, match=r"f\(\): return value"):
        f(Later())


# --------------------------------------------------------------------------------------
# switches, threads, compile


def test_error_family() -> None:
    assert issubclass(ShapeError, ValueError) and not issubclass(ShapeError, TypeError)
    base = shapesafe.ShapesafeError
    assert issubclass(base, ValueError) and not issubclass(base, TypeError)
    for name in shapesafe.errors.__all__:
        cls = getattr(shapesafe, name)
        assert cls.__module__ == "shapesafe"
        assert issubclass(cls, base)
    # a wrong dtype is still caught by `except ShapeError` around a checked call
    for cls in (DtypeError, shapesafe.BroadcastError):
        assert issubclass(cls, ShapeError)
    assert not issubclass(AnnotationError, ShapeError)


@pytest.mark.values
def test_disabled_at_runtime_passes_through() -> None:
    was = shapesafe.is_enabled()
    with shapesafe.enabled(False):
        assert not shapesafe.is_enabled()
        out = td_target(torch.zeros(3), torch.ones(3, 1))
        assert out.shape == (3, 3)  # the broadcast bug, unchecked: same as raw torch
    assert shapesafe.is_enabled() == was
    shapesafe.disable()
    try:
        td_target(torch.zeros(3), torch.ones(2, 1))
    finally:
        shapesafe.enable()
    if was:
        with pytest.raises(ShapeError):
            td_target(torch.zeros(3), torch.ones(3, 1))
    else:
        shapesafe.disable()


@pytest.mark.values
def test_env_var_returns_the_function_itself() -> None:
    code = (
        "import shapesafe\n"
        "def f(x): return x\n"
        "assert shapesafe.check(f) is f\n"
        "assert not shapesafe.is_enabled()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, SHAPESAFE_DISABLE="1"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_threads_do_not_share_bindings() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "batch"], y: Float[Tensor, "batch"]) -> Float[Tensor, "batch"]:
        return x + y

    errors: list[BaseException] = []
    caught: list[int] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        try:
            for i in range(300):
                size = n + 1 + (i % 3)
                assert f(torch.zeros(size), torch.zeros(size)).shape == (size,)
                if i % 50 == 0:
                    try:
                        f(torch.zeros(size), torch.zeros(size + 1))
                    except ShapeError as e:
                        assert e.bindings == {"batch": size}
                        caught.append(n)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(caught) == 8 * 6


def test_compile_fullgraph_no_graph_breaks_no_recompiles() -> None:
    import torch._dynamo

    torch._dynamo.reset()
    explanation = torch._dynamo.explain(td_target)(torch.zeros(8), torch.zeros(8))
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1

    torch._dynamo.reset()
    compiled = torch.compile(td_target, fullgraph=True, backend="eager")
    from torch._dynamo.utils import counters

    counters.clear()
    for _ in range(5):
        out = compiled(torch.ones(8), torch.ones(8))
    assert torch.allclose(out, torch.full((8,), 1.99))
    assert counters["stats"]["unique_graphs"] == 1


@pytest.mark.parametrize("dynamic", [False, True])
def test_compile_still_catches_wrong_shapes_with_our_message(dynamic: bool) -> None:
    import torch._dynamo

    torch._dynamo.reset()
    compiled = torch.compile(td_target, fullgraph=True, dynamic=dynamic, backend="eager")
    for n in (8, 9, 10):
        assert compiled(torch.ones(n), torch.ones(n)).shape == (n,)
    with pytest.raises(Exception) as info:
        compiled(torch.ones(8), torch.ones(8, 1))
    msg = str(info.value)
    assert "td_target(): argument `q_next`: expected shape (batch,) = (8,)" in msg
    assert "did you mean q_next.squeeze(-1)?" in msg
    with pytest.raises(
        Exception, match=r"td_target\(\): argument `q_next` axis 0 \('batch'\): expected batch=8"
    ):
        compiled(torch.ones(8), torch.ones(7))


def test_compiled_module_checks() -> None:
    import torch._dynamo

    torch._dynamo.reset()
    net = torch.compile(Net(), fullgraph=True, backend="eager")
    assert net(torch.zeros(4, 3)).shape == (4, 2)
    with pytest.raises(Exception, match=r"Net\.forward\(\): argument `x` axis 1"):
        net(torch.zeros(4, 5))


# --------------------------------------------------------------------------------------
# check_shape


@pytest.mark.values
@given(shapes_st)
def test_check_shape_returns_bindings(shape: tuple[int, ...]) -> None:
    tokens = [f"d{i}" for i in range(len(shape))]
    got = shapesafe.check_shape(np.zeros(shape), " ".join(tokens))
    if shapesafe.is_enabled():
        assert got == dict(zip(tokens, shape))


def test_check_shape_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(bound by dims=\)") as info:
        shapesafe.check_shape(
            np.zeros((2, 3)), "batch obs", function="from_numpy", argument="obs", dims={"obs": 4}
        )
    err = info.value
    assert (err.function, err.argument, err.axis, err.got) == ("from_numpy", "obs", 1, "3")
    with pytest.raises(DtypeError, match=r"expected dtype Float"):
        shapesafe.check_shape(torch.zeros(2, dtype=torch.long), Float[Tensor, "n"])
    with pytest.raises(AnnotationError, match="dim string"):
        shapesafe.check_shape(torch.zeros(2), 3)


def test_many_annotations_compile_fast_paths_that_agree() -> None:
    """Every combination of a few dim kinds, both orders: fast path and matcher agree."""
    kinds = ["n", "3", "_", "*v", "...", "#n"]
    for a, b in itertools.product(kinds, repeat=2):
        if a.startswith(("*", ".")) and b.startswith(("*", ".")):
            continue
        if {a, b} == {"n", "#n"} or (a == b == "#n"):
            continue

        @shapesafe.check
        def f(x: Shaped[Tensor, f"{a} {b}"]) -> None:
            return None

        for shape in [(3, 3), (1, 3), (3, 1), (2, 3, 3), (3,), ()]:
            try:
                f(torch.zeros(shape))
            except ShapeError as e:
                assert "could not explain" not in str(e)


@pytest.mark.parametrize(
    ("dims", "pattern"),
    [
        ("#n n", r"^f\(\): argument `x`: the axis name 'n' appears twice in '#n n'"),
        ("batch+", r"^f\(\): argument `x`: cannot parse the axis 'batch\+'"),
        ("*#b", r"^f\(\): argument `x`: broadcastable variadic dims like '\*#b'"),
    ],
)
def test_annotation_errors_name_the_function_and_argument(dims: str, pattern: str) -> None:
    with pytest.raises(shapesafe.AnnotationError, match=pattern) as info:

        @shapesafe.check
        def f(x: Float[Tensor, dims]) -> None:  # type: ignore[name-defined]
            return None

    assert (info.value.function, info.value.argument) == ("f", "x")
    with pytest.raises(
        shapesafe.AnnotationError, match=r"^g\(\): return value: cannot parse"
    ) as info:

        @shapesafe.check
        def g(x: Float[Tensor, "n"]) -> Float[Tensor, "n+"]:  # type: ignore[name-defined]
            return x

    assert (info.value.function, info.value.argument) == ("g", "return")


# --------------------------------------------------------------------------------------
# message details found by auditing


def test_union_failure_says_got_once() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "b"] | int) -> None:
        return None

    f(3)
    with pytest.raises(
        DtypeError,
        match=r'^f\(\): argument `x`: expected one of Float\[Tensor, "b"\] \| int, got str\n',
    ):
        f("3")  # type: ignore[arg-type]


def test_none_for_a_non_optional_array_gets_optional_hint() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "b"], mask: Float[Tensor, "b"] = None) -> None:  # type: ignore[assignment]
        return None

    with pytest.raises(
        DtypeError,
        match=r'argument `mask`: expected Float\[Tensor, "b"\] \(a torch\.Tensor\), got NoneType'
        r'(.|\n)*hint: if `mask` may be None, annotate it as Float\[Tensor, "b"\] \| None',
    ):
        f(torch.zeros(2))


def test_list_for_a_numpy_annotation_gets_asarray_hint() -> None:
    @shapesafe.check
    def f(x: Shaped[np.ndarray, "n 3"]) -> None:
        return None

    with pytest.raises(DtypeError, match=r"hint: wrap it as an array first: np\.asarray\(x\)"):
        f([[1, 2, 3]])  # type: ignore[arg-type]


def test_container_annotations_are_shown_as_written() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "b"], rest: tuple[Float[Tensor, "b"], ...]) -> None:
        return None

    with pytest.raises(
        ShapeError, match=r'annotation: tuple\[Float\[Tensor, "b"\], \.\.\.\]'
    ) as info:
        f(torch.zeros(2), (torch.zeros(2), torch.zeros(3)))
    assert (info.value.argument, info.value.axis) == ("rest[1]", 0)
    assert info.value.expected == "b=2 (bound by `x`)"


def test_a_variadic_run_of_another_length_is_a_rank_error() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "*batch"], y: Float[Tensor, "*batch act"]) -> None:
        return None

    with pytest.raises(ShapeError, match=r"got shape \(4,\) \[1 axis\]") as info:
        f(torch.zeros(2, 3), torch.zeros(4))
    assert info.value.axis is None
    assert info.value.expected == "shape (*batch, act) = (2, 3, act) [3 axes]"
    with pytest.raises(ShapeError, match=r"expected shape \(\*batch, act\) = \(act,\) \[1 axis\]"):
        f(torch.zeros(()), torch.zeros(2, 3))
