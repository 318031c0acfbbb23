from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import distributions, nn, optim
from torch.utils.data import DataLoader, TensorDataset

import shapesafe
from shapesafe import BroadcastError, ShapeError
from shapesafe._format import fmt_shape as fmt
from shapesafe.strict import allow_broadcasting, strict_broadcasting
from shapesafe.testing import shapes, tensors

Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

OPS: dict[str, tuple[str, Op]] = {
    "+": (r"`\+` \(add\)", lambda a, b: a + b),
    "-": (r"`-` \(sub\)", lambda a, b: a - b),
    "*": (r"`\*` \(mul\)", lambda a, b: a * b),
    "/": (r"`/` \(div\)", lambda a, b: a / b),
    "<": (r"`<` \(lt\)", lambda a, b: a < b),
    "==": (r"`==` \(eq\)", lambda a, b: a == b),
    "maximum": (r"maximum\(\)", torch.maximum),
    "max": (r"max\(\)", torch.max),
    "min-method": (r"min\(\)", lambda a, b: a.min(b)),
    "where": (r"where\(\)", lambda a, b: torch.where(a > 0, a, b)),
    "lerp": (r"lerp\(\)", lambda a, b: torch.lerp(a, b, 0.5)),
    "sub-method": (r"`-` \(sub\)", lambda a, b: a.sub(b)),
    "torch.add": (r"add", lambda a, b: torch.add(a, b, alpha=2)),
    "rsub": (r"`-` \(sub\)", lambda a, b: b.__rsub__(a)),
}


@st.composite
def shape_pairs(draw: st.DrawFn, kind: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Pairs of broadcastable shapes: equal, of different rank, or equal rank with 1s."""
    base = draw(shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    if kind == "equal":
        return base, base
    if kind == "rank":
        if len(base) >= 2 and draw(st.booleans()):
            long, short = base, base[draw(st.integers(1, len(base) - 1)) :]
        else:
            long, short = (base[-1], 1), (base[-1],)  # the (B, 1) vs (B,) bug
        return (long, short) if draw(st.booleans()) else (short, long)
    # kind == "unit": equal rank, some axes 1 on one side
    mask = draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base)))
    if not any(mask):
        mask[0] = True
    ones = tuple(1 if m else s for m, s in zip(mask, base))
    return (base, ones) if draw(st.booleans()) else (ones, base)


def _pair(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(shape_a, generator=g), torch.randn(shape_b, generator=g)


# --------------------------------------------------------------------------------------
# properties against plain torch


@pytest.mark.values
@given(st.sampled_from(sorted(OPS)), shape_pairs("equal"), st.booleans())
def test_equal_shapes_pass_and_match_plain_torch(
    op: str, pair: tuple[tuple[int, ...], tuple[int, ...]], size_one: bool
) -> None:
    a, b = _pair(*pair)
    expected = OPS[op][1](a, b)
    with strict_broadcasting(allow_size_one=size_one):
        got = OPS[op][1](a, b)
    assert torch.equal(got, expected)


def _refused(a: tuple[int, ...], b: tuple[int, ...], allow_size_one: bool) -> bool:
    """The documented rule for two operands, written plainly (strict.py's docstring)."""
    if a == b or not a or not b:
        return False
    high, low = (a, b) if len(a) >= len(b) else (b, a)
    if allow_size_one:
        if math.prod(a) == 1 or math.prod(b) == 1:
            return False  # one-element tensors act as scalars
        return len(a) != len(b) and torch.broadcast_shapes(high, low) != high
    return high[len(high) - len(low) :] != low


@st.composite
def any_pairs(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Any two broadcastable shapes of sizes 1..3 (the trap, rows, per-feature vectors,
    one-element tensors and outer products all appear)."""
    a = draw(shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    b = draw(shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    try:
        torch.broadcast_shapes(a, b)
    except RuntimeError:
        assume(False)
    return a, b


@given(st.sampled_from(sorted(OPS)), any_pairs(), st.booleans())
def test_rank_and_size_one_follow_the_documented_rule(
    op: str, pair: tuple[tuple[int, ...], tuple[int, ...]], size_one: bool
) -> None:
    a, b = _pair(*pair)
    label, fn = OPS[op]
    expected = fn(a, b)
    if _refused(*pair, size_one):
        with (
            strict_broadcasting(allow_size_one=size_one),
            pytest.raises(BroadcastError, match=rf"{label}.* would broadcast shapes"),
        ):
            fn(a, b)
        with strict_broadcasting(allow_size_one=size_one), allow_broadcasting():
            assert torch.equal(fn(a, b), expected)
    else:
        with strict_broadcasting(allow_size_one=size_one):
            assert torch.equal(fn(a, b), expected)


@given(st.sampled_from(sorted(OPS)), shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_the_trailing_one_trap_always_raises(op: str, base: tuple[int, ...]) -> None:
    """(..., X, 1) against (X,) with X > 1, in either order and both settings."""
    a, b = _pair((*base, 1), base[-1:])
    label, fn = OPS[op]
    for size_one in (True, False):
        for x, y in ((a, b), (b, a)):
            with (
                strict_broadcasting(allow_size_one=size_one),
                pytest.raises(BroadcastError, match=rf"{label}.* would broadcast shapes"),
            ):
                fn(x, y)


@given(st.sampled_from(sorted(OPS)), shape_pairs("unit"))
def test_size_one_expansion_follows_the_setting(
    op: str, pair: tuple[tuple[int, ...], tuple[int, ...]]
) -> None:
    a, b = _pair(*pair)
    label, fn = OPS[op]
    expected = fn(a, b)
    with strict_broadcasting():  # allowed by default: the keepdim idiom
        assert torch.equal(fn(a, b), expected)
    with (
        strict_broadcasting(allow_size_one=False),
        pytest.raises(
            BroadcastError, match=rf"{label}.*size-1 expansion, refused under allow_size_one"
        ),
    ):
        fn(a, b)


@pytest.mark.values
@given(
    tensors(torch.float32, shapes(max_dims=3, max_side=4)),
    st.sampled_from(sorted(OPS)),
    st.sampled_from(["python", "0-d"]),
)
def test_scalars_and_0d_tensors_never_raise(x: torch.Tensor, op: str, kind: str) -> None:
    s = 2.5 if kind == "python" else torch.tensor(2.5)
    fn = OPS[op][1]
    tensor_only = (
        "maximum",
        "max",
        "min-method",
        "sub-method",
        "torch.add",
        "where",
        "lerp",
        "rsub",
    )
    if kind == "python" and op in tensor_only:
        s = torch.tensor(2.5)
    expected = (fn(x, s), fn(s, x)) if isinstance(s, torch.Tensor) else (fn(x, s),)  # type: ignore[arg-type]
    with strict_broadcasting(allow_size_one=False):
        got = (fn(x, s), fn(s, x)) if isinstance(s, torch.Tensor) else (fn(x, s),)  # type: ignore[arg-type]
        assert torch.equal(x + 1, x + 1)
        assert torch.equal(2 * x, x * 2)
    for g, e in zip(got, expected):
        assert torch.equal(g, e)


@pytest.mark.values
@given(shape_pairs("rank"))
def test_explicit_broadcasting_passes(pair: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    a, b = _pair(*pair)
    expected = a + b
    target = expected.shape
    with strict_broadcasting(allow_size_one=False):
        assert torch.equal(a.expand(target) + b.expand(target), expected)
        assert torch.equal(torch.broadcast_to(a, target) + b.expand(target), expected)
        x, y = torch.broadcast_tensors(a, b)
        assert torch.equal(x + y, expected)
        big = expected.clone()
        if a.shape == target:
            assert torch.equal(a + b.expand_as(big), expected)


# --------------------------------------------------------------------------------------
# messages


def test_td_target_message_names_op_shapes_and_line() -> None:
    rewards, q_next, gamma = torch.zeros(64), torch.zeros(64, 1), 0.99
    with strict_broadcasting(), pytest.raises(BroadcastError) as info:
        td = rewards + gamma * q_next  # noqa: F841
    err = info.value
    assert isinstance(err, ShapeError) and isinstance(err, ValueError)
    assert (err.function, err.expected, err.got) == ("`+` (add)", "(64,)", "(64,) and (64, 1)")
    assert err.hint is not None and err.hint.startswith("the (64, 1) operand has a trailing")
    assert re.search(r"\n  at .*test_strict\.py:\d+\n    td = rewards \+ gamma \* q_next", str(err))


def test_in_place_and_masked_forms() -> None:
    with (
        strict_broadcasting(),
        pytest.raises(
            BroadcastError,
            match=r"(?s)add_\(\) would broadcast shapes \(3, 1\) and \(3,\).*hint: the \(3, 1\) operand has a trailing",
        ),
    ):
        torch.zeros(3, 1).add_(torch.zeros(3))
    with (
        strict_broadcasting(),
        pytest.raises(
            BroadcastError, match=r"masked_fill\(\) would broadcast shapes \(2, 1\) and \(2,\)"
        ),
    ):
        torch.zeros(2, 1).masked_fill(torch.zeros(2, dtype=torch.bool), 1.0)
    with (
        strict_broadcasting(),
        pytest.raises(
            BroadcastError, match=r"`-=` \(sub\) would broadcast|sub_\(\) would broadcast"
        ),
    ):
        x = torch.zeros(2, 1)
        x -= torch.zeros(2)
    with strict_broadcasting():  # per-feature vectors in place pass
        x = torch.ones(2, 3)
        x -= torch.ones(3)
        assert torch.equal(x, torch.zeros(2, 3))
    with (
        strict_broadcasting(allow_size_one=False),
        pytest.raises(BroadcastError, match=r"hint: make the shapes equal"),
    ):
        torch.zeros(3, 4).add_(torch.zeros(1, 4))


@pytest.mark.parametrize(
    ("loss", "name"),
    [
        (F.mse_loss, "mse_loss"),
        (F.l1_loss, "l1_loss"),
        (F.smooth_l1_loss, "smooth_l1_loss"),
        (nn.MSELoss(), "mse_loss"),
        (F.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits"),
    ],
)
def test_losses_with_mismatched_shapes_raise(loss: Callable[..., torch.Tensor], name: str) -> None:
    pred, target = torch.zeros(8, 1), torch.zeros(8)
    with strict_broadcasting(), pytest.raises(BroadcastError) as info:
        loss(pred, target)
    err = info.value
    assert (err.function, err.argument, err.expected, err.got) == (name, "target", "(8, 1)", "(8,)")
    assert err.hint is not None and err.hint.startswith("the (8, 1) operand has a trailing")
    assert re.search(r"\n  at .*test_strict\.py:\d+\n.*loss\(pred, target\)", str(err))
    with strict_broadcasting():
        assert torch.equal(loss(pred.squeeze(-1), target), loss(target, target))


def test_allclose_and_reductions_of_max_min() -> None:
    a, b = torch.zeros(4), torch.zeros(4, 1)
    with (
        strict_broadcasting(),
        pytest.raises(
            BroadcastError, match=r"allclose\(\) would broadcast shapes \(4,\) and \(4, 1\)"
        ),
    ):
        torch.allclose(a, b)  # plain torch: True, comparing a (4, 4) table
    with strict_broadcasting(allow_size_one=False):  # one tensor operand: a reduction
        assert torch.equal(torch.max(b, 0).values, torch.zeros(1))
        assert torch.equal(b.min(dim=0, keepdim=True).values, torch.zeros(1, 1))
        assert torch.equal(b.max(), torch.tensor(0.0))
        assert torch.allclose(a, a)


def test_loss_keyword_arguments_and_non_broadcastable() -> None:
    with strict_broadcasting(), pytest.raises(BroadcastError, match=r"not even broadcastable"):
        F.mse_loss(input=torch.zeros(3), target=torch.zeros(4))


@pytest.mark.filterwarnings("error")
def test_mse_loss_warning_is_replaced_by_error() -> None:
    with strict_broadcasting(), pytest.raises(BroadcastError):
        F.mse_loss(torch.zeros(4, 1), torch.zeros(4))


# --------------------------------------------------------------------------------------
# escape hatches, forms, state


def test_allow_broadcasting_as_decorator_and_nesting() -> None:
    @allow_broadcasting
    def outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b

    a, b = torch.zeros(3), torch.zeros(3, 1)
    with strict_broadcasting():
        assert outer(a, b).shape == (3, 3)
        with allow_broadcasting():
            with allow_broadcasting():
                assert (a + b).shape == (3, 3)
            assert (a * b).shape == (3, 3)
        with pytest.raises(BroadcastError, match=r"`\+` \(add\)"):
            a + b


def test_strict_broadcasting_decorator_forms() -> None:
    @strict_broadcasting
    def bare(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b

    @strict_broadcasting(allow_size_one=False)
    def configured(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b

    with pytest.raises(BroadcastError, match=r"\n    return a - b\n"):
        bare(torch.zeros(3), torch.zeros(3, 1))
    assert bare(torch.zeros(3, 2), torch.zeros(3, 1)).shape == (3, 2)
    with pytest.raises(BroadcastError, match=r"size-1 expansion"):
        configured(torch.zeros(3, 2), torch.zeros(3, 1))
    # outside the decorated function nothing is checked
    assert (torch.zeros(3) - torch.zeros(3, 1)).shape == (3, 3)
    with pytest.raises(shapesafe.UsageError) as info:  # was a plain TypeError
        strict_broadcasting(3)  # type: ignore[call-overload]
    assert (info.value.function, info.value.argument, info.value.got) == (
        "strict_broadcasting",
        "func",
        "the int 3",
    )


def test_mode_is_removed_after_an_error_and_nests() -> None:
    with pytest.raises(BroadcastError), strict_broadcasting():
        torch.zeros(2) + torch.zeros(2, 1)
    assert (torch.zeros(2) + torch.zeros(2, 1)).shape == (2, 2)
    with strict_broadcasting(), strict_broadcasting(allow_size_one=False):
        with pytest.raises(BroadcastError, match=r"size-1 expansion"):
            torch.zeros(2, 3) + torch.zeros(2, 1)
        assert (torch.zeros(2) + torch.zeros(2)).shape == (2,)


def test_disabled_checks_make_the_mode_a_no_op() -> None:
    with shapesafe.enabled(False), strict_broadcasting():
        assert (torch.zeros(2) + torch.zeros(2, 1)).shape == (2, 2)


# --------------------------------------------------------------------------------------
# library internals run unchanged


@pytest.mark.values
def test_distributions_internals_are_not_checked() -> None:
    torch.manual_seed(0)
    cov = torch.tensor([[[1, 0.8], [0.8, 2]], [[1, -0.2], [-0.2, 1]], [[4, 0.6], [0.6, 0.5]]])
    with strict_broadcasting(allow_size_one=False):
        mvn = distributions.MultivariateNormal(torch.zeros(2), cov)
        sample = mvn.sample((5,))
        assert sample.shape == (5, 3, 2)
        assert mvn.log_prob(sample).shape == (5, 3)
        normal = distributions.Normal(torch.zeros(4, 2), torch.ones(2))
        assert normal.log_prob(normal.rsample((3,))).shape == (3, 4, 2)
        cat = distributions.Categorical(logits=torch.zeros(4, 3))
        assert cat.log_prob(cat.sample((6,))).shape == (6, 4)
        indep = distributions.Independent(normal, 1)
        assert indep.entropy().shape == (4,)


@pytest.mark.values
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_modules_autograd_and_optimizers_run_under_the_mode(foreach: bool, opt: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, 8), nn.LayerNorm(8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)
    )
    x = torch.randn(16, 3)
    optimizer: optim.Optimizer
    if opt == "adam":
        optimizer = optim.Adam(net.parameters(), lr=1e-2, foreach=foreach)
    else:
        optimizer = optim.SGD(net.parameters(), lr=1e-2, momentum=0.9, foreach=foreach)
    with strict_broadcasting(allow_size_one=False):
        for _ in range(3):
            y = net(x)
            with allow_broadcasting():  # broadcast on purpose; backward must still work
                loss = ((y - y.mean(0)) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
    assert all(p.grad is not None for p in net.parameters())


class GaussianPolicy(nn.Module):
    """The seed's lecture-3 policy."""

    def __init__(self, input_size: int, output_size: int) -> None:
        super().__init__()
        self.mean_fc1 = nn.Linear(input_size, 32)
        self.mean_fc2 = nn.Linear(32, 32)
        self.mean_fc3 = nn.Linear(32, output_size)
        self.log_std = nn.Parameter(torch.randn(output_size))

    def forward(self, x: torch.Tensor) -> distributions.Normal:
        mean = F.relu(self.mean_fc1(x))
        mean = F.relu(self.mean_fc2(mean))
        mean = self.mean_fc3(mean)
        return distributions.Normal(mean, self.log_std.exp())


def _seed_loop(epochs: int) -> list[float]:
    torch.manual_seed(0)
    states = torch.rand(1000, 2) - 0.5
    true_means = states**3 + 4.5 * states
    true_cov = torch.diag(torch.tensor([0.1, 0.05]))
    expert_actions = torch.distributions.MultivariateNormal(true_means, true_cov).sample()
    policy = GaussianPolicy(2, 2)
    optimizer = optim.Adam(policy.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(states, expert_actions), batch_size=64, shuffle=True)
    losses = []
    for _ in range(epochs):
        epoch_loss = 0.0
        for curr_states, curr_actions in loader:
            dist = policy(curr_states)
            loss = -dist.log_prob(curr_actions).sum()
            optimizer.zero_grad()
            loss.backward()
            epoch_loss += loss.detach().cpu().numpy().squeeze()
            optimizer.step()
        losses.append(epoch_loss / len(loader))
    return losses


@pytest.mark.values
def test_seed_training_loop_runs_unchanged_under_the_mode() -> None:
    plain = _seed_loop(2)
    with strict_broadcasting(allow_size_one=False):
        strict = _seed_loop(2)
    assert strict == plain


def test_seed_loop_with_a_shape_bug_is_caught() -> None:
    torch.manual_seed(0)
    policy, critic = GaussianPolicy(2, 2), nn.Linear(2, 1)
    states, actions, rewards = torch.rand(64, 2), torch.rand(64, 2), torch.rand(64)
    with (
        strict_broadcasting(),
        pytest.raises(BroadcastError, match=r"shapes \(64,\) and \(64, 1\) to \(64, 64\)"),
    ):
        log_prob = policy(states).log_prob(actions).sum(-1)
        advantages = rewards - critic(states)  # critic gives (64, 1): needs .squeeze(-1)
        (log_prob * advantages).mean()


# --------------------------------------------------------------------------------------
# the documented rule, both sides of every example, in both settings

B, A, N = 6, 3, 4
RULE_EXAMPLES = [
    # (name, shape x, shape y, raises by default, raises with allow_size_one=False)
    ("0-d against a batch", (B,), (), False, False),
    ("one element (1,) vs (B, 1): SAC's temperature", (1,), (B, 1), False, False),
    ("one element (1, 1) vs (B,)", (1, 1), (B,), False, True),
    ("(1,) vs (B,): a total over the batch, by shape", (1,), (B,), False, True),
    ("keepdim (B, A) vs (B, 1)", (B, A), (B, 1), False, True),
    ("outer product by None indexing (B, 1) vs (1, A)", (B, 1), (1, A), False, True),
    ("per-feature (B, A) vs (A,): SAC's action_scale", (B, A), (A,), False, False),
    ("per-feature over time (T, B, A) vs (A,)", (5, B, A), (A,), False, False),
    ("(T, B, A) vs (1, A)", (5, B, A), (1, A), False, True),
    ("row (1, N) vs (N,): PPO's GAE step", (1, N), (N,), False, False),
    ("row at N=1 (1, 1) vs (1,)", (1, 1), (1,), False, False),
    ("the trap (B,) vs (B, 1)", (B,), (B, 1), True, True),
    ("the trap in time (T, B, 1) vs (B,)", (5, B, 1), (B,), True, True),
    ("the trap (B, A, 1) vs (A,)", (B, A, 1), (A,), True, True),
    ("outer product by rank promotion (B, 1) vs (A,)", (B, 1), (A,), True, True),
]


@pytest.mark.parametrize(
    ("x_shape", "y_shape", "default", "strictest"),
    [e[1:] for e in RULE_EXAMPLES],
    ids=[e[0] for e in RULE_EXAMPLES],
)
def test_rule_examples_both_sides(
    x_shape: tuple[int, ...], y_shape: tuple[int, ...], default: bool, strictest: bool
) -> None:
    x, y = _pair(x_shape, y_shape)
    expected = x * y
    for size_one, raises in ((True, default), (False, strictest)):
        for a, b in ((x, y), (y, x)):
            with strict_broadcasting(allow_size_one=size_one):
                if raises:
                    with pytest.raises(BroadcastError, match=r"would broadcast shapes"):
                        a * b
                else:
                    assert torch.equal(a * b, expected)


def test_batch_totals_rule_both_sides() -> None:
    log_prob = torch.randn(B, requires_grad=True) * 1.0
    column = torch.randn(B, 1, requires_grad=True) * 1.0
    advantages = torch.randn(B)
    with strict_broadcasting():
        for total in (log_prob.sum(0), log_prob.sum(), torch.sum(log_prob), column.sum(0)):
            with pytest.raises(BroadcastError) as info:
                total * advantages
            err = info.value
            assert (err.function, err.got) == ("`*` (mul)", fmt(total.shape))
            assert "total over the batch" in str(err)
            with pytest.raises(BroadcastError):
                torch.mul(advantages, total)
            with allow_broadcasting():
                assert torch.equal(total * advantages, total.detach() * advantages)
        # the other side: its own total, means, no-grad totals, totals over other axes,
        # a total against a tensor of another length, and a batch of size 1
        w = torch.rand(B, requires_grad=True)
        assert torch.allclose((w / w.sum()).sum(), torch.tensor(1.0))
        assert (advantages - log_prob.mean()).shape == (B,)
        assert (advantages * advantages.sum()).shape == (B,)
        assert (advantages * torch.randn(B, A, requires_grad=True).sum(-1)).shape == (B,)
        assert (torch.randn(B + 1) * log_prob.sum()).shape == (B + 1,)
        single = torch.randn(1, requires_grad=True) * 1.0
        assert (single.sum() * torch.ones(1)).shape == (1,)
        assert (log_prob.sum() * 2.0 + log_prob.sum()).shape == ()


def test_batch_totals_are_forgotten_with_the_tensor() -> None:
    from shapesafe import _strict_rule

    with strict_broadcasting():
        total = (torch.randn(B, requires_grad=True) * 1.0).sum()
        key = id(total)
        assert key in _strict_rule.TOTALS
        del total
        assert key not in _strict_rule.TOTALS


def test_only_log_prob_cdf_icdf_of_torch_distributions_are_looked_into() -> None:
    normal = distributions.Normal(torch.zeros(B), torch.ones(B))
    with strict_broadcasting():
        for method in (normal.log_prob, normal.cdf):
            with pytest.raises(BroadcastError, match=r"inside Normal\.(log_prob|cdf)\(\)"):
                method(torch.zeros(B, 1))
        with pytest.raises(BroadcastError, match=r"inside Normal\.icdf\(\)"):
            normal.icdf(torch.full((B, 1), 0.5))
        indep = distributions.Independent(distributions.Normal(torch.zeros(B, A), 1.0), 1)
        with pytest.raises(BroadcastError, match=r"inside Normal\.log_prob\(\)"):
            indep.log_prob(torch.zeros(B, 1, A))  # via Independent.log_prob
        # correct values: sample shapes in front, per-feature parameters
        assert normal.log_prob(torch.zeros(5, B)).shape == (5, B)
        wide = distributions.Normal(torch.zeros(A), torch.ones(A))
        assert wide.log_prob(torch.zeros(B, A)).shape == (B, A)
        mvn = distributions.MultivariateNormal(torch.zeros(A), torch.eye(A))
        assert mvn.log_prob(torch.zeros(B, A)).shape == (B,)


def test_self_normalised_weights_the_documented_way() -> None:
    w, adv = torch.rand(B, requires_grad=True), torch.randn(B)
    with strict_broadcasting():
        with pytest.raises(BroadcastError, match=r"total over the batch"):
            w * adv / w.sum()
        assert torch.allclose((w / w.sum()) * adv, w * adv / w.sum().detach())
