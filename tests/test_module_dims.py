"""Axes tied to a parameter or a module attribute: ``Float[Tensor, "batch {self.obs_dim}"]``
(jaxtyping's own f-string spelling). Caught at the call with shapesafe's message, read
fresh at every call (nothing leaks between modules or threads, jaxtyping#264), the same
verdict as jaxtyping's checker, under torch.compile and with the import hook."""

from __future__ import annotations

import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from beartype import beartype
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Float, jaxtyped
from torch import Tensor, nn

import shapesafe
from shapesafe import AnnotationError, ShapeError


class Net(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int = 2) -> None:
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.lin = nn.Linear(obs_dim, act_dim)

    @shapesafe.check
    def forward(
        self, obs: Float[Tensor, "batch obs={self.obs_dim}"]
    ) -> Float[Tensor, "batch {self.act_dim}"]:
        return self.lin(obs)


class Config:
    def __init__(self, width: int) -> None:
        self.width = width


class Nested(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.cfg = Config(width)

    @shapesafe.check
    def forward(self, x: Float[Tensor, "batch {self.cfg.width}"]) -> Float[Tensor, "batch"]:
        return x.sum(-1)


@shapesafe.check
def window(x: Float[Tensor, "time {k}"], k: int) -> Float[Tensor, "time"]:
    return x.mean(-1)


def test_wrong_width_is_caught_with_the_attribute_named() -> None:
    net = Net(4)
    assert net(torch.zeros(3, 4)).shape == (3, 2)
    with pytest.raises(ShapeError) as info:
        net(torch.zeros(3, 5))  # torch alone: "mat1 and mat2 shapes cannot be multiplied"
    e = info.value
    assert (e.function, e.argument, e.axis) == ("Net.forward", "obs", 1)
    assert e.expected == "obs=4 (self.obs_dim)" and e.got == "5"
    assert "expected obs=4 (self.obs_dim), got 5 in shape (3, 5)" in str(e)


def test_unaliased_axis_and_return_value() -> None:
    class Bad(Net):
        def __init__(self) -> None:
            super().__init__(3)
            self.act_dim = 7  # the layer still makes 2 columns

    with pytest.raises(ShapeError) as info:
        Bad()(torch.zeros(5, 3))
    assert info.value.argument == "return value" and info.value.axis == 1
    assert info.value.expected == "7 (self.act_dim)"


def test_dotted_path_and_plain_parameter() -> None:
    assert Nested(3)(torch.zeros(2, 3)).shape == (2,)
    with pytest.raises(ShapeError, match=r"expected 3 \(self\.cfg\.width\), got 4"):
        Nested(3)(torch.zeros(2, 4))
    assert window(torch.zeros(6, 2), 2).shape == (6,)
    with pytest.raises(ShapeError) as info:
        window(torch.zeros(6, 2), k=3)
    assert info.value.expected == "3 (k)" and info.value.argument == "x"


def test_two_widths_called_alternately_never_leak() -> None:
    # jaxtyping#264: a size remembered from the previous call would fail the second net
    small, big = Net(2), Net(9)
    for _ in range(5):
        assert small(torch.zeros(1, 2)).shape == (1, 2)
        assert big(torch.zeros(4, 9)).shape == (4, 2)
    with pytest.raises(ShapeError, match="obs=2"):
        small(torch.zeros(1, 9))
    with pytest.raises(ShapeError, match="obs=9"):
        big(torch.zeros(1, 2))


def test_threads_each_see_their_own_module() -> None:
    nets = {d: Net(d) for d in (2, 3, 5, 8)}
    errors: list[BaseException] = []

    def work(d: int) -> None:
        try:
            for i in range(200):
                nets[d](torch.zeros(1 + i % 3, d))
                with pytest.raises(ShapeError, match=f"obs={d} "):
                    nets[d](torch.zeros(1, d + 1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))
def test_same_verdict_as_jaxtyping(width: int, given_width: int, batch: int) -> None:
    """jaxtyping reads the same annotation (its f-string axis) and agrees on every
    pass / fail."""

    class Ours(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.obs_dim = width

        @shapesafe.check
        def forward(self, x: Float[Tensor, "batch {self.obs_dim}"]) -> Float[Tensor, "batch"]:
            return x.sum(-1)

    class Theirs(Ours):
        @jaxtyped(typechecker=beartype)
        def forward(self, x: Float[Tensor, "batch {self.obs_dim}"]) -> Float[Tensor, "batch"]:
            return x.sum(-1)

    x = torch.zeros(batch, given_width)
    verdicts = []
    for net in (Ours(), Theirs()):
        try:
            net(x)
            verdicts.append(True)
        except Exception:
            verdicts.append(False)
    assert verdicts[0] == verdicts[1] == (width == given_width)


def test_missing_attribute_is_a_clear_error() -> None:
    class Forgot(nn.Module):
        @shapesafe.check
        def forward(self, x: Float[Tensor, "batch {self.obs_dim}"]) -> Float[Tensor, "batch"]:
            return x.sum(-1)

    with pytest.raises(AnnotationError) as info:
        Forgot()(torch.zeros(2, 3))
    assert info.value.argument == "self" and info.value.expected == "self.obs_dim"
    assert "has no attribute 'obs_dim'; set it in __init__" in str(info.value)


def test_unknown_parameter_and_malformed_axes_refused_at_decoration() -> None:
    with pytest.raises(AnnotationError, match=r"reads `cfg`, which is not a parameter"):

        @shapesafe.check
        def f(x: Float[Tensor, "{cfg.n}"]) -> None: ...

    with pytest.raises(AnnotationError, match="give the module a property"):

        @shapesafe.check
        def g(self: object, x: Float[Tensor, "{self.n}+1"]) -> None: ...


def test_functions_without_it_generate_the_same_body() -> None:
    """The per-call cost of other functions is unchanged: no attribute reads, no extra
    argument to the failure path."""

    @shapesafe.check
    def plain(x: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch"]:
        return x.sum(-1)

    src = plain.__shapesafe_source__  # type: ignore[attr-defined]
    assert "_ss_A" not in src and "_ss_a=(_ss" not in src
    assert "_ss_A0 = self.obs_dim" in Net.forward.__shapesafe_source__  # type: ignore[attr-defined]


def test_compiled_fullgraph() -> None:
    torch._dynamo.reset()
    net = Net(4)
    compiled = torch.compile(net, fullgraph=True, backend="eager")
    assert compiled(torch.ones(3, 4)).shape == (3, 2)
    with pytest.raises(ShapeError) as info:
        compiled(torch.ones(3, 6))
    assert info.value.expected == "obs=4 (self.obs_dim)"
    assert "expected obs=4 (self.obs_dim), got 6" in str(info.value)


@pytest.mark.values
def test_values_unchanged() -> None:
    torch.manual_seed(0)
    net = Net(3)
    with torch.no_grad():
        net.lin.weight.copy_(torch.arange(6.0).reshape(2, 3))
        net.lin.bias.zero_()
    out = net(torch.ones(2, 3))
    assert out.tolist() == [[3.0, 12.0], [3.0, 12.0]]


PACKAGE = """
from jaxtyping import Float
from torch import Tensor, nn

class Encoder(nn.Module):
    def __init__(self, obs_dim: int) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.lin = nn.Linear(obs_dim, 2)

    def forward(self, obs: Float[Tensor, "batch {self.obs_dim}"]) -> Float[Tensor, "batch 2"]:
        return self.lin(obs)
"""


@pytest.fixture
def package(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"mdpkg_{request.node.name}".replace("[", "_").replace("]", "_")
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "nets.py").write_text(textwrap.dedent(PACKAGE))
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        for mod in [m for m in sys.modules if m.startswith(name)]:
            del sys.modules[mod]


def test_import_hook_checks_module_dims(package: str) -> None:
    import importlib

    with shapesafe.install_import_hook(package):
        nets = importlib.import_module(f"{package}.nets")
    enc = nets.Encoder(4)
    assert enc(torch.zeros(2, 4)).shape == (2, 2)
    with pytest.raises(ShapeError) as info:
        enc(torch.zeros(2, 3))
    assert info.value.expected == "4 (self.obs_dim)"


def test_attribute_that_is_not_a_size_and_check_shape_refusal() -> None:
    class Unset(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.obs_dim = None  # set later, forgotten

        @shapesafe.check
        def forward(self, x: Float[Tensor, "batch {self.obs_dim}"]) -> Float[Tensor, "batch"]:
            return x.sum(-1)

    with pytest.raises(ShapeError) as info:
        Unset()(torch.zeros(2, 3))
    assert info.value.expected == "a size from self.obs_dim, which is None, not an int"
    with pytest.raises(AnnotationError, match=r"pass the size in `dims=` instead") as refused:
        shapesafe.check_shape(torch.zeros(2, 3), "batch {self.obs_dim}")
    assert refused.value.argument == "spec"
