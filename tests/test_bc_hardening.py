"""Regression tests for the behaviour-cloning items of the hardening issue (11): each
failed before its fix. Plus fuzz-style property tests: odd inputs give a correct result
or a ShapesafeError, nothing else."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import shapesafe
from shapesafe import save_checkpoint
from shapesafe.bc import (
    Batch,
    Demonstrations,
    DeterministicPolicy,
    GaussianPolicy,
    LossOutput,
    _threads,
    build_policy,
    cubic_demonstrations,
    fit,
    load_policy,
)
from shapesafe.cli import main
from shapesafe.errors import CheckpointError, DataError, ShapeError, UsageError


def _policy(seed: int = 0) -> GaussianPolicy:
    torch.manual_seed(seed)
    return GaussianPolicy(2, 2, hidden=(16,))


def _state(policy: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in policy.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- threads


def _threads_seen(policy: GaussianPolicy) -> list[int]:
    seen: list[int] = []
    inner = policy.compute_loss

    def spy(batch: Batch) -> LossOutput:
        seen.append(torch.get_num_threads())
        return inner(batch)

    policy.compute_loss = spy  # type: ignore[method-assign]
    return seen


def test_fit_trains_small_policies_on_one_thread_and_restores_the_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(_threads, "_TORCH_DEFAULT", before)  # nobody chose a count
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    policy = _policy()
    seen = _threads_seen(policy)
    fit(policy, cubic_demonstrations(64), steps=2, progress=False)
    assert seen == [1, 1] and torch.get_num_threads() == before


def test_fit_keeps_a_thread_count_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(_threads, "_TORCH_DEFAULT", before)
    monkeypatch.setenv("OMP_NUM_THREADS", str(before))
    policy = _policy()
    seen = _threads_seen(policy)
    fit(policy, cubic_demonstrations(64), steps=1, progress=False)
    assert seen == [before]
    seen.clear()
    fit(policy, cubic_demonstrations(64), steps=1, progress=False, threads=2)  # explicit wins
    assert seen == [2] and torch.get_num_threads() == before
    with pytest.raises(UsageError) as info:
        fit(policy, cubic_demonstrations(64), steps=1, progress=False, threads=0)
    assert (info.value.function, info.value.argument) == ("fit", "threads")


# ---------------------------------------------------------------- resume


def test_a_refused_resume_leaves_the_policy_untouched(tmp_path: Path) -> None:
    demos = cubic_demonstrations(100)
    fit(_policy(), demos, steps=3, progress=False, checkpoint_dir=tmp_path)
    fresh = _policy(7)
    before = _state(fresh)
    with pytest.raises(CheckpointError, match=r"the run differs") as info:
        fit(fresh, demos, steps=6, batch_size=32, progress=False, checkpoint_dir=tmp_path,
            resume=True)  # fmt: skip
    assert (info.value.function, info.value.argument) == ("fit", "resume")
    assert _same(_state(fresh), before)


def test_resume_on_other_data_of_the_same_size_is_refused(tmp_path: Path) -> None:
    fit(_policy(), cubic_demonstrations(100, seed=0), steps=3, progress=False,
        checkpoint_dir=tmp_path)  # fmt: skip
    fresh = _policy(7)
    before = _state(fresh)
    other = cubic_demonstrations(100, seed=1)
    with pytest.raises(CheckpointError, match=r"the training data differs") as info:
        fit(fresh, other, steps=6, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert info.value.argument == "resume" and _same(_state(fresh), before)
    # on purpose (a grown DAgger set): accepted, and resume no longer needs the same size
    grown = cubic_demonstrations(150, seed=1)
    result = fit(fresh, grown, steps=6, progress=False, checkpoint_dir=tmp_path, resume=True,
                 resume_on_new_data=True)  # fmt: skip
    assert result.resumed_from == 3 and result.total_steps == 6


def test_resume_from_incomplete_fit_metadata_is_a_checkpoint_error(tmp_path: Path) -> None:
    policy = _policy()
    path = tmp_path / "last.pt"
    save_checkpoint(path, policy, torch.optim.Adam(policy.parameters()), fit={"step": 3})
    before = _state(policy)
    with pytest.raises(CheckpointError, match=r"incomplete training state") as info:
        fit(policy, cubic_demonstrations(50), steps=5, progress=False, resume=path)
    assert info.value.function == "fit" and "signature" in str(info.value.got or "") + str(
        info.value
    )
    assert _same(_state(policy), before)


def test_resuming_a_finished_run_for_fewer_steps_says_so(tmp_path: Path) -> None:
    demos = cubic_demonstrations(64)
    fit(_policy(), demos, steps=8, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(UsageError, match=r"already finished 8 steps") as info:
        fit(_policy(), demos, steps=4, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert (info.value.argument, info.value.got) == ("steps", "4")


# ---------------------------------------------------------------- the command line


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_refuses_to_overwrite_a_run_and_says_when_nothing_is_left_to_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = cubic_demonstrations(128).save(tmp_path / "d.npz")
    out = tmp_path / "run"
    base = ["train", "--data", str(data), "--out", str(out), "--no-progress"]
    assert _cli([*base, "--epochs", "3"], capsys)[0] == 0
    stamp = (out / "last.pt").stat().st_mtime_ns
    code, _, err = _cli([*base, "--epochs", "3"], capsys)
    assert code == 2 and "already holds a run (last.pt); pass --resume" in err
    assert (out / "last.pt").stat().st_mtime_ns == stamp
    code, _, err = _cli([*base, "--epochs", "1", "--resume"], capsys)
    assert code == 2 and "already finished" in err and "--epochs" in err
    code, _, err = _cli([*base, "--epochs", "3", "--resume"], capsys)
    assert code == 2 and "already finished at step" in err
    code, out_text, err = _cli([*base, "--epochs", "1", "--overwrite"], capsys)
    assert code == 0, err
    code, out_text, err = _cli([*base, "--epochs", "2", "--threads", "1", "--resume"], capsys)
    assert code == 0 and "resumed from step" in out_text


def test_cli_errors_give_flag_advice_and_no_internals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = cubic_demonstrations(128).save(tmp_path / "d.npz")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "x"), "--no-progress",
            "--lr", "1e6", "--optimizer", "sgd", "--steps", "50"]  # fmt: skip
    code, _, err = _cli(argv, capsys)
    assert code == 1 and "--max-grad-norm" in err and "max_grad_norm=" not in err, err
    assert "checkpoint_dir=" not in err and len(err.strip().splitlines()) == 1

    archive = tmp_path / "archive.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x", "y")
    code, _, err = _cli(["evaluate", "--checkpoint", str(archive), "--data", str(data)], capsys)
    assert code == 2 and "enforce fail" not in err and "archive.pt" in err

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    code, _, err = _cli(["train", "--data", str(text), "--out", str(tmp_path / "y")], capsys)
    assert code == 2 and "allow_pickle" not in err and "not a zip archive" in err


# ---------------------------------------------------------------- deployment, batches


def test_load_policy_is_one_call_from_checkpoint_to_a_ready_policy(tmp_path: Path) -> None:
    policy = DeterministicPolicy(3, 2, hidden=(8,))
    path = save_checkpoint(tmp_path / "p.pt", policy, policy_config=policy.config)
    ready = load_policy(path, device="cpu")
    assert type(ready) is DeterministicPolicy and not ready.training
    x = torch.randn(4, 3)
    torch.testing.assert_close(ready.predict(x), policy.predict(x))
    bare = save_checkpoint(tmp_path / "bare.pt", policy)
    with pytest.raises(CheckpointError, match=r"holds no policy description") as info:
        load_policy(bare)
    assert (info.value.function, info.value.argument) == ("load_policy", "path")
    with pytest.raises(CheckpointError, match=r"no checkpoint file"):
        load_policy(tmp_path / "missing.pt")


def test_loss_accepts_replay_buffer_dicts_and_names_the_keys_it_needs() -> None:
    policy = _policy()
    obs, act = torch.randn(5, 2), torch.randn(5, 2)
    expected = policy.loss((obs, act))
    torch.testing.assert_close(policy.loss({"obs": obs, "act": act, "rew": torch.zeros(5)}),
                               expected)  # fmt: skip
    torch.testing.assert_close(policy.loss({"observations": obs, "actions": act}), expected)
    with pytest.raises(DataError, match=r"keys: 'state', 'action'") as info:
        policy.loss({"state": obs, "action": act})
    assert (info.value.function, info.value.argument) == ("GaussianPolicy.loss", "batch")
    assert info.value.got == "'state', 'action'"


@pytest.mark.parametrize("cls", [GaussianPolicy, DeterministicPolicy])
def test_a_missing_batch_axis_names_the_method_called(cls: type[GaussianPolicy]) -> None:
    policy = cls(3, 2)
    with pytest.raises(ShapeError, match=r"lacks the batch axis: obs.unsqueeze\(0\)") as info:
        policy.predict(torch.zeros(3))
    assert info.value.function == f"{cls.__name__}.predict" and info.value.argument == "obs"
    assert "unsqueeze(-1)" not in str(info.value)


def test_non_finite_loss_error_is_in_the_family() -> None:
    from shapesafe.bc import NonFiniteLossError

    assert issubclass(NonFiniteLossError, shapesafe.NonFiniteError)
    assert issubclass(NonFiniteLossError, FloatingPointError)


# ---------------------------------------------------------------- crafted .npz files


def _npz_with_member(path: Path, name: str, header: bytes, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(name, header + payload)
    return path


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()  # magic string included


def test_a_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path: Path) -> None:
    path = _npz_with_member(
        tmp_path / "huge.npz", "observations.npy", _npy_header((10**6, 10**5)), b"\0" * 64
    )
    with pytest.raises(DataError, match=r"declares shape \(1000000, 100000\)") as info:
        Demonstrations.load(path)
    assert (info.value.function, info.value.argument) == ("Demonstrations.load", "path")


def test_a_malformed_header_is_a_data_error(tmp_path: Path) -> None:
    bad = np.lib.format.magic(1, 0) + (10).to_bytes(2, "little") + b"{'descr': \n"
    path = _npz_with_member(tmp_path / "bad.npz", "observations.npy", bad, b"")
    with pytest.raises(DataError, match=r"array 'observations' has a malformed header"):
        Demonstrations.load(path)


# ---------------------------------------------------------------- fuzz

_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.floats(-5, 5), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def _arrays(draw: st.DrawFn) -> Any:
    rows = draw(st.integers(0, 5))
    shape = (rows, *draw(st.lists(st.integers(0, 3), max_size=2)))
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "int8", "uint8", "bool",
                                  "float16", "complex64"]))  # fmt: skip
    arr = np.zeros(shape, dtype=dtype)
    if arr.size and dtype.startswith("float") and draw(st.booleans()):
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    kind = draw(st.sampled_from(["numpy", "torch", "list"]))
    if kind == "torch" and dtype != "uint8":
        return torch.from_numpy(arr)
    return arr.tolist() if kind == "list" else arr


@settings(max_examples=300)
@given(obs=st.one_of(_arrays(), _ODD), act=st.one_of(_arrays(), _ODD),
       goals=st.one_of(st.none(), _arrays()), extra=st.one_of(st.none(), _arrays()))  # fmt: skip
def test_fuzz_demonstrations_give_valid_data_or_a_shapesafe_error(
    obs: Any, act: Any, goals: Any, extra: Any
) -> None:
    try:
        demos = Demonstrations(
            obs, act, goals=goals, extras=None if extra is None else {"r": extra}
        )
    except shapesafe.ShapesafeError:
        return
    # accepted: the documented invariants hold
    n = len(demos)
    assert n >= 1 and demos.actions.shape[0] == n
    for t in (demos.observations, demos.actions, demos.goals, *demos.extras.values()):
        if t is not None:
            assert t.shape[0] == n and not t.is_complex()
            assert not t.is_floating_point() or bool(torch.isfinite(t).all())
    batch = demos.sample(3, generator=torch.Generator().manual_seed(0))
    assert batch.size == 3 and (demos.goals is None) == (batch.goals is None)


@settings(max_examples=300)
@given(
    obs=st.one_of(_arrays(), _ODD),
    act=st.one_of(_arrays(), _ODD),
    as_dict=st.booleans(),
    method=st.sampled_from(["loss", "predict", "act"]),
    kind=st.sampled_from(["gaussian", "deterministic"]),
)
def test_fuzz_policy_calls_give_a_reference_result_or_a_shapesafe_error(
    obs: Any, act: Any, as_dict: bool, method: str, kind: str
) -> None:
    torch.manual_seed(0)
    policy = build_policy({"kind": kind, "obs_dim": 2, "act_dim": 2, "hidden": [4]})
    obs_t = torch.as_tensor(obs) if isinstance(obs, np.ndarray) else obs
    act_t = torch.as_tensor(act) if isinstance(act, np.ndarray) else act
    try:
        if method == "loss":
            batch = {"obs": obs_t, "act": act_t} if as_dict else (obs_t, act_t)
            out = policy.loss(batch)
        elif method == "predict":
            out = policy.predict(obs_t)
        else:
            out = policy.act(obs, deterministic=True)
    except shapesafe.ShapesafeError:
        return
    # accepted: compare with the network computed by hand
    x = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
    with torch.no_grad():
        raw = policy.net(x if x.ndim == 2 else x.unsqueeze(0))
    mean = raw[..., :2]
    if method == "loss":
        assert out.shape == () and (math.isfinite(float(out)) or not bool(torch.isfinite(x).all()))
    elif method == "predict":
        torch.testing.assert_close(out.detach(), mean)
    else:
        expected = mean[0] if x.ndim == 1 else mean
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-6)
