"""The full wording of every torch-safety message, in one place.

Other tests assert an error's class, its structured fields and one fragment; this module
pins the whole text, so rewording a message means editing one expected string here.
Each case runs in a fresh temporary directory, so file paths print as short relative
names.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import shapesafe
from shapesafe import (
    explain_autograd_errors,
    load_checkpoint,
    save_checkpoint,
)

# ---------------------------------------------------------------- the situations


def two_heads_one_used() -> nn.Module:
    net = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 1)})
    net["a"](torch.ones(1, 2)).sum().backward()
    return net


def inf_gradients() -> nn.Module:
    net = nn.Linear(2, 1)
    (net(torch.tensor([[0.0, 1.0]])) * torch.tensor(math.inf)).sum().backward()
    return net


def leaf_in_place() -> None:
    w = torch.zeros(2, requires_grad=True)
    with explain_autograd_errors():
        w += 1


class ListHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = [nn.Linear(2, 1)]


def mean_loss(m: nn.Module, b: torch.Tensor) -> torch.Tensor:
    return m(b).mean()


def saved_two_layers() -> str:
    save_checkpoint("x.pt", nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    return "x.pt"


def empty_file() -> str:
    Path("empty.pt").write_bytes(b"")
    return "empty.pt"


def inconsistent_file() -> str:
    from shapesafe.torch_safety.checkpoint._payload import FIELDS, _checksum

    obj = torch.load(saved_two_layers(), weights_only=True)
    obj["state_dict"]["1.weight"] = torch.zeros(5, 5)
    obj["checksum"] = _checksum(
        {k: obj[k] for k in FIELDS if k != "checksum"}, validate=False, function="t"
    )
    torch.save(obj, "x.pt")
    return "x.pt"


def run(code: str) -> BaseException:
    """Run one case; the error it raises (the case must raise)."""
    torch.manual_seed(0)
    net = nn.Linear(2, 1)
    # the public names, as a user would import them, plus this module's situations
    namespace: dict[str, Any] = {**vars(shapesafe), **globals(), "np": np, "NET": net}
    namespace["OPT"] = torch.optim.SGD(net.parameters(), lr=0.1)
    try:
        exec(code, namespace)
    except shapesafe.ShapesafeError as err:
        return err
    raise AssertionError(f"no error from {code}")


CASES: list[tuple[str, type[shapesafe.ShapesafeError], str, str]] = [
    (
        "from_numpy_object_array",
        shapesafe.DtypeError,
        "from_numpy(np.array([np.zeros(2), np.zeros(3)], dtype=object))",
        "from_numpy(): argument `array`: has object dtype (array (2,) object), which has no tensor equivalent\n"
        "  expected: a bool, integer, float or complex dtype\n"
        "  got: object\n"
        "  hint: an object array usually comes from a ragged list or a list of arrays of different shapes; np.stack equally-shaped arrays (or pad them) first",
    ),
    (
        "from_numpy_of_a_tensor",
        shapesafe.DtypeError,
        "from_numpy(torch.zeros(2))",
        "from_numpy(): argument `array`: is already a torch tensor (tensor (2,) float32)\n"
        "  expected: a numpy array, numpy scalar, Python number or list\n"
        "  got: tensor (2,) float32\n"
        "  hint: use t.to(dtype) / detached_copy(t); from_numpy is for numpy data",
    ),
    (
        "from_numpy_bad_dtype_argument",
        shapesafe.UsageError,
        "from_numpy(np.zeros(2), dtype=np.float32)",
        "from_numpy(): argument `dtype`: must be None, 'keep' or a torch.dtype, got a builtins.type\n"
        "  expected: None, 'keep' or a torch.dtype\n"
        "  got: a builtins.type\n"
        "  hint: e.g. dtype=torch.float32",
    ),
    (
        "from_numpy_non_finite",
        shapesafe.NonFiniteError,
        "from_numpy(np.array([[0, np.nan], [np.inf, 1]]), check_finite=True)",
        "from_numpy(): argument `array`: array (2, 2) float64 holds 1 NaN and 1 inf value (first at index (0, 1))\n"
        "  expected: finite values\n"
        "  got: 1 NaN, 1 inf\n"
        "  hint: the simulator diverged or was fed NaN actions; check the step before, or np.nan_to_num() if that is intended",
    ),
    (
        "from_numpy_overflow",
        shapesafe.NonFiniteError,
        "from_numpy(np.array([1.0, 1e39]), check_finite=True)",
        "from_numpy(): argument `array`: array (2,) float64 holds values up to 1e+39 that overflow to inf in float32\n"
        "  expected: values representable in float32\n"
        "  got: max |value| 1e+39\n"
        "  hint: rescale or clip the values, or keep float64 with dtype=torch.float64",
    ),
    (
        "from_numpy_complex_to_real",
        shapesafe.DtypeError,
        "from_numpy(np.array([1 + 2j]), dtype=torch.float32)",
        "from_numpy(): argument `dtype`: the array (array (1,) complex128) is complex, but dtype float32 is real: the imaginary part would be silently discarded\n"
        "  expected: a complex dtype\n"
        "  got: float32\n"
        "  hint: convert explicitly first (a.real, np.abs(a)), or pass a complex dtype",
    ),
    (
        "from_numpy_uint64_wrap",
        shapesafe.DtypeError,
        "from_numpy(np.array([2**63 + 5], dtype=np.uint64))",
        "from_numpy(): argument `array`: array (1,) uint64 holds 9223372036854775813, which does not fit in int64 (torch's index dtype): the conversion would wrap it to a negative number\n"
        "  expected: values <= 2**63 - 1\n"
        "  got: 9223372036854775813\n"
        "  hint: the values look like hashes or seeds, not indices; keep them in numpy, or reduce them first (a % 2**63)",
    ),
    (
        "from_numpy_nan_to_int",
        shapesafe.NonFiniteError,
        "from_numpy(np.array([1.0, np.nan]), dtype=torch.int64)",
        "from_numpy(): argument `array`: array (2,) float64 holds 1 NaN or inf value, which cannot be converted to int64\n"
        "  expected: finite values\n"
        "  got: 1 NaN, 0 inf\n"
        "  hint: replace them first (np.nan_to_num) or keep a float dtype",
    ),
    (
        "from_numpy_bad_device",
        shapesafe.UsageError,
        "from_numpy(np.zeros(2), device='nope')",
        "from_numpy(): argument `device`: the str 'nope' is not a device torch knows\n"
        "  got: the str 'nope'\n"
        "  hint: e.g. device='cpu' or device='cuda:0'",
    ),
    (
        "to_numpy_of_an_array",
        shapesafe.DtypeError,
        "to_numpy(np.zeros(2))",
        "to_numpy(): argument `tensor`: must be a torch.Tensor, got array (2,) float64\n"
        "  expected: a torch.Tensor\n"
        "  got: array (2,) float64\n"
        "  hint: for a numpy array, take a copy with np.array(a, copy=True)",
    ),
    (
        "to_numpy_meta",
        shapesafe.DtypeError,
        "to_numpy(torch.zeros(2, device='meta'))",
        "to_numpy(): argument `tensor`: tensor (2,) float32 is a meta tensor, which has no data to copy\n"
        "  got: a meta tensor\n"
        "  hint: materialise it first (e.g. module.to_empty(device='cpu') and load real weights)",
    ),
    (
        "autograd_graph_of_a_float",
        shapesafe.DtypeError,
        "autograd_graph(1.0)",
        "autograd_graph(): argument `loss`: must be a torch.Tensor, got the float 1.0\n"
        "  expected: a torch.Tensor\n"
        "  got: the float 1.0\n"
        "  hint: pass the loss tensor itself, not loss.item()",
    ),
    (
        "autograd_graph_without_grad_fn",
        shapesafe.AutogradError,
        "autograd_graph(torch.ones(2) * 2)",
        "autograd_graph(): argument `loss`: tensor (2,) float32 has no grad_fn and does not require grad: nothing connects it to any parameter\n"
        "  expected: a tensor computed from parameters (with a grad_fn)\n"
        "  got: a tensor without grad_fn\n"
        "  hint: was it computed under torch.no_grad() / evaluating(), from .detach()ed tensors, or through .item() / numpy?",
    ),
    (
        "check_grads_missing",
        shapesafe.AutogradError,
        "check_grads(two_heads_one_used())",
        "check_grads(): 2 of 4 trainable parameters of ModuleDict received no gradient\n"
        "  b.weight (1, 2)\n"
        "  b.bias (1,)\n"
        "  hint: a parameter with no gradient is not used by the loss: check that forward() uses it, that no .detach() / .item() / numpy round trip cuts the graph, and that backward() ran (autograd_graph(loss, model).unused names them before backward); freeze it on purpose with requires_grad_(False) or pass ignore=[...]",
    ),
    (
        "check_grads_non_finite",
        shapesafe.NonFiniteError,
        "check_grads(inf_gradients())",
        "check_grads(): 2 parameters of Linear got non-finite gradients\n"
        "  weight (1, 2): 1 NaN, 1 inf\n"
        "  bias (1,): 0 NaN, 1 inf\n"
        "  hint: non-finite gradients come from the loss's inputs (log(0), 1/0, overflow)",
    ),
    (
        "params_without_grad_of_none",
        shapesafe.UsageError,
        "params_without_grad(None)",
        "params_without_grad(): argument `module`: must be a torch.nn.Module, got None\n"
        "  expected: a torch.nn.Module\n"
        "  got: None\n"
        "  hint: pass the model after loss.backward(); for several models, wrap them: nn.ModuleList([actor, critic])",
    ),
    (
        "detached_copy_of_a_list",
        shapesafe.DtypeError,
        "detached_copy([1])",
        "detached_copy(): argument `t`: must be a torch.Tensor, got a list of 1 item\n"
        "  expected: a torch.Tensor\n"
        "  got: a list of 1 item\n"
        "  hint: for numpy arrays use a.copy(); for nested data, copy each tensor",
    ),
    (
        "explained_in_place_on_a_leaf",
        shapesafe.AutogradError,
        "leaf_in_place()",
        "autograd: an in-place operation (`w += ...`, `w.zero_()`, `w[0] = ...`, `w.add_()`) was applied to a leaf tensor that requires grad (a parameter) while autograd was recording; autograd refuses because the update itself would become part of the graph\n"
        "  torch said: a leaf Variable that requires grad is being used in an in-place operation.\n"
        "  hint: to update parameters by hand, do it under `with torch.no_grad():` (what optimizers and sgd_step() do); to experiment with the values, work on detached_copy(w)",
    ),
    (
        "evaluating_bad_grad",
        shapesafe.UsageError,
        "evaluating(nn.Linear(1, 1), grad='off').__enter__()",
        "evaluating(): argument `grad`: must be 'no_grad', 'inference' or 'enabled', got the str 'off'\n"
        "  expected: 'no_grad', 'inference' or 'enabled'\n"
        "  got: the str 'off'",
    ),
    (
        "audit_bad_optimizer",
        shapesafe.UsageError,
        "audit(nn.Linear(1, 1), 'opt')",
        "audit(): argument `optimizer`: must be a torch.optim.Optimizer or None, got the str 'opt'\n"
        "  expected: a torch.optim.Optimizer or None\n"
        "  got: the str 'opt'\n"
        "  hint: audit(model, torch.optim.Adam(model.parameters()))",
    ),
    (
        "audit_strict",
        shapesafe.AuditError,
        "audit(ListHeads(), strict=True)",
        "audit(ListHeads): 1 problem\n"
        "  [unregistered_module] heads[0]: Linear held in a plain list is not registered: its parameters are missing from parameters(), state_dict(), .to(device) and the optimizer\n"
        "    hint: self.heads = nn.ModuleList(...)",
    ),
    (
        "sgd_step_of_none",
        shapesafe.UsageError,
        "sgd_step(None, lr=0.1)",
        "sgd_step(): argument `params`: must be a module or an iterable of tensors, got None\n"
        "  expected: an nn.Module or an iterable of tensors\n"
        "  got: None\n"
        "  hint: sgd_step(model, lr=...) or sgd_step(model.parameters(), lr=...)",
    ),
    (
        "sgd_step_negative_lr",
        shapesafe.UsageError,
        "sgd_step([torch.ones(1)], lr=-1)",
        "sgd_step(): argument `lr`: must be a finite number >= 0, got the int -1\n"
        "  expected: a finite number >= 0\n"
        "  got: the int -1",
    ),
    (
        "sgd_step_momentum_without_buffers",
        shapesafe.UsageError,
        "sgd_step([torch.ones(1)], lr=0.1, momentum=0.9)",
        "sgd_step(): argument `buffers`: momentum needs a list of buffers to carry state between steps, got None\n"
        "  expected: a list of 1 slot\n"
        "  got: None\n"
        "  hint: bufs = [None] * len(params) once, then sgd_step(..., buffers=bufs)",
    ),
    (
        "train_step_negative_clip",
        shapesafe.UsageError,
        "train_step(NET, mean_loss, torch.ones(2, 2), OPT, max_grad_norm=-1.0)",
        "train_step(): argument `max_grad_norm`: must be a finite number > 0, got the float -1.0\n"
        "  expected: a finite number > 0\n"
        "  got: the float -1.0",
    ),
    (
        "train_step_non_scalar_loss",
        shapesafe.ShapeError,
        "train_step(NET, lambda m, b: m(b), torch.ones(4, 2), OPT)",
        "train_step(): loss must be a scalar (shape ()), got shape (4, 1)\n"
        "  expected: ()\n"
        "  got: (4, 1)\n"
        "  hint: reduce it: .mean() over the batch (or .sum())",
    ),
    (
        "train_step_complex_loss",
        shapesafe.DtypeError,
        "train_step(NET, lambda m, b: m(b).mean().to(torch.complex64), torch.ones(4, 2), OPT)",
        "train_step(): loss has dtype complex64; backward() needs a real floating loss\n"
        "  expected: a real floating dtype\n"
        "  got: complex64\n"
        "  hint: for a complex value, minimise loss.abs() or loss.real; an integer loss came through argmax / a comparison, which has no gradient",
    ),
    (
        "train_step_nan_loss",
        shapesafe.NonFiniteError,
        "train_step(NET, lambda m, b: m(b).mean() * math.nan, torch.ones(4, 2), OPT)",
        "train_step(): loss is nan; the parameters were not updated\n"
        "  expected: a finite loss\n"
        "  got: nan\n"
        "  hint: look for log(0), division by a zero std, exp overflow, or a too-large learning rate (check the inputs with from_numpy(..., check_finite=True))",
    ),
    (
        "train_step_loss_not_callable",
        shapesafe.UsageError,
        "train_step(NET, 'mse', torch.ones(4, 2), OPT)",
        "train_step(): argument `loss_fn`: must be a function loss_fn(model, batch) -> loss, got the str 'mse'\n"
        "  expected: a callable\n"
        "  got: the str 'mse'\n"
        "  hint: e.g. lambda m, b: F.mse_loss(m(b[0]), b[1])",
    ),
    (
        "train_step_loss_item",
        shapesafe.DtypeError,
        "train_step(NET, lambda m, b: 1.5, torch.ones(4, 2), OPT)",
        "train_step(): loss_fn returned the float 1.5, expected a 0-d tensor\n"
        "  expected: a 0-d float tensor\n"
        "  got: the float 1.5\n"
        "  hint: return the loss tensor itself, not loss.item()",
    ),
    (
        "train_step_detached_loss",
        shapesafe.AutogradError,
        "train_step(NET, lambda m, b: m(b).mean().detach(), torch.ones(4, 2), OPT)",
        "train_step(): loss does not require grad, so backward() cannot reach the parameters\n"
        "  expected: a loss that requires grad\n"
        "  got: requires_grad=False\n"
        "  hint: was it computed under torch.no_grad() / evaluating(), detached, or are all parameters frozen (requires_grad=False)?",
    ),
    (
        "load_checkpoint_shapes_do_not_fit",
        shapesafe.CheckpointError,
        "load_checkpoint(saved_two_layers(), nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 1)))",
        "load_checkpoint(): checkpoint 'x.pt' (saved from Sequential) does not fit Sequential: 3 problems\n"
        "  shape mismatch  0.weight: checkpoint (3, 2), module (4, 2)\n"
        "  shape mismatch  0.bias: checkpoint (3,), module (4,)\n"
        "  shape mismatch  1.weight: checkpoint (1, 3), module (1, 4)\n"
        "  hint: the module was built with different sizes than the saved one; build it with the same constructor arguments (inspect_checkpoint(path) shows the saved shapes)",
    ),
    (
        "load_checkpoint_missing_file",
        shapesafe.CheckpointError,
        "load_checkpoint('nope.pt', nn.Linear(1, 1))",
        "load_checkpoint(): no checkpoint at 'nope.pt'\n"
        "  hint: check the path (a relative path is resolved from '<cwd>')",
    ),
    (
        "load_checkpoint_path_is_none",
        shapesafe.CheckpointError,
        "load_checkpoint(None, nn.Linear(1, 1))",
        "load_checkpoint(): argument `path`: must be a file path (str or pathlib.Path), got None\n"
        "  expected: a str or os.PathLike\n"
        "  got: None",
    ),
    (
        "load_checkpoint_empty_file",
        shapesafe.CheckpointError,
        "load_checkpoint(empty_file(), nn.Linear(1, 1))",
        "load_checkpoint(): 'empty.pt' is not a readable shapesafe checkpoint: it is empty\n"
        "  hint: the file is truncated or corrupted (an interrupted copy or download?); restore it from a backup or re-save it with save_checkpoint()",
    ),
    (
        "load_checkpoint_inconsistent_manifest",
        shapesafe.CheckpointError,
        "load_checkpoint(inconsistent_file(), nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))",
        "load_checkpoint(): 'x.pt' is not a readable shapesafe checkpoint: its manifest disagrees with its data ('1.weight': manifest (1, 3), data (5, 5))\n"
        "  hint: the file is truncated or corrupted (an interrupted copy or download?); restore it from a backup or re-save it with save_checkpoint()",
    ),
    (
        "save_checkpoint_numpy_metadata",
        shapesafe.CheckpointError,
        "save_checkpoint('y.pt', nn.Linear(1, 1), rng=np.random.get_state())",
        "save_checkpoint(): metadata['rng'][1] is a numpy.ndarray, which torch.load(weights_only=True) cannot read back\n"
        "  got: a numpy.ndarray\n"
        "  allowed: None, bool, int, float, complex, str, bytes, torch.Tensor (dense), torch.dtype, torch.device, torch.Size, and list/tuple/dict/set of these\n"
        "  hint: convert numpy arrays with torch.from_numpy(a) (or a.tolist())",
    ),
    (
        "save_checkpoint_missing_directory",
        shapesafe.CheckpointError,
        "save_checkpoint('nodir/y.pt', nn.Linear(1, 1))",
        "save_checkpoint(): directory 'nodir' does not exist (saving to 'nodir/y.pt')\n"
        "  hint: create it first: os.makedirs(dirname, exist_ok=True)",
    ),
    (
        "assert_same_state_differences",
        shapesafe.CheckpointError,
        "assert_same_state({'w': torch.tensor([1.0, math.nan]), 'b': torch.zeros(1)}, {'w': torch.tensor([2.0, math.nan]), 'c': torch.zeros(1)})",
        "assert_same_state(): the two states differ at 3 keys:\n"
        "  b: only in the first\n"
        "  c: only in the second\n"
        "  w: 1 of 2 values differ (max |diff| 1)\n"
        "  hint: a round trip should be exact; check that the same architecture and dtype were used on both sides",
    ),
    (
        "assert_same_state_of_none",
        shapesafe.UsageError,
        "assert_same_state(nn.Linear(1, 1), None)",
        "assert_same_state(): argument `b`: must be a torch.nn.Module or a state dict, got None\n"
        "  expected: an nn.Module or a dict of str -> tensor\n"
        "  got: None",
    ),
    (
        "restore_rng_state_empty",
        shapesafe.UsageError,
        "restore_rng_state({})",
        "restore_rng_state(): argument `state`: has no 'python', 'numpy', 'torch' entry\n"
        "  expected: a dict from capture_rng_state() (keys python, numpy, torch)\n"
        "  got: a dict of 0 items\n"
        "  hint: pass what capture_rng_state() returned, e.g. load_checkpoint(...)['rng']",
    ),
]


@pytest.mark.parametrize(
    ("cls", "code", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_full_message(
    cls: type[shapesafe.ShapesafeError],
    code: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    err = run(code)
    assert type(err) is cls
    assert str(err).replace(os.getcwd(), "<cwd>") == expected


def test_printed_checkpoint_metadata_and_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    save_checkpoint("x.pt", net, epoch=1, rng=shapesafe.capture_rng_state())
    meta = load_checkpoint("x.pt", net)
    assert repr(meta) == "{'epoch': 1, 'rng': <rng state: numpy, python, torch>}"
    info = shapesafe.inspect_checkpoint("x.pt")
    assert str(info) == (
        "checkpoint 'x.pt': torch.nn.modules.container.Sequential, 4 tensors, "
        f"optimizer state: no, torch {torch.__version__}\n"
        "  0.weight  (3, 2) float32\n"
        "  0.bias    (3,) float32\n"
        "  1.weight  (1, 3) float32\n"
        "  1.bias    (1,) float32\n"
        "  metadata: {'epoch': 1, 'rng': <rng state: numpy, python, torch>}"
    )
    assert repr(info) == (
        "CheckpointInfo(path='x.pt', module_class='torch.nn.modules.container.Sequential', "
        "tensors=4, metadata={'epoch': 1, 'rng': <rng state: numpy, python, torch>}, "
        f"has_optimizer=False, torch_version={torch.__version__!r}, "
        f"checksum={info.checksum[:19]!r}...)"
    )
