r"""Which torch functions strict broadcasting checks: elementwise ops (with the label an
error shows, e.g. ``\`+\` (add)``) and elementwise losses (with the arguments that must
share one shape), keyed by qualified name. Data only; the mode is in ``shapesafe.strict``.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["LOSS_FNS_BY_NAME", "OPS_BY_NAME"]

# --------------------------------------------------------------------------------------
# which functions are checked

_SYMBOLS = {
    "add": "+",
    "sub": "-",
    "subtract": "-",
    "rsub": "-",
    "mul": "*",
    "multiply": "*",
    "div": "/",
    "divide": "/",
    "true_divide": "/",
    "floor_divide": "//",
    "remainder": "%",
    "pow": "**",
    "eq": "==",
    "ne": "!=",
    "not_equal": "!=",
    "lt": "<",
    "less": "<",
    "le": "<=",
    "less_equal": "<=",
    "gt": ">",
    "greater": ">",
    "ge": ">=",
    "greater_equal": ">=",
    "bitwise_and": "&",
    "bitwise_or": "|",
    "bitwise_xor": "^",
    "bitwise_left_shift": "<<",
    "bitwise_right_shift": ">>",
}

_ELEMENTWISE = (
    *_SYMBOLS,
    "fmod",
    "float_power",
    "atan2",
    "arctan2",
    "hypot",
    "maximum",
    "minimum",
    "fmax",
    "fmin",
    "logical_and",
    "logical_or",
    "logical_xor",
    "copysign",
    "xlogy",
    "logaddexp",
    "logaddexp2",
    "nextafter",
    "ldexp",
    "heaviside",
    "where",
    "lerp",
    "addcmul",
    "addcdiv",
    "masked_fill",
    "clamp",
    "clip",
    "isclose",
    "allclose",
    "copy",
    # binary forms only: torch.max(x, dim) has one tensor operand and is never checked
    "max",
    "min",
)

_DUNDERS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "truediv": "/",
    "div": "/",
    "floordiv": "//",
    "mod": "%",
    "pow": "**",
    "and": "&",
    "or": "|",
    "xor": "^",
    "lshift": "<<",
    "rshift": ">>",
}
_COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

# loss name -> names of the arguments that must share one shape
_LOSSES: dict[str, tuple[str, ...]] = {
    "mse_loss": ("input", "target"),
    "l1_loss": ("input", "target"),
    "smooth_l1_loss": ("input", "target"),
    "huber_loss": ("input", "target"),
    "binary_cross_entropy": ("input", "target"),
    "binary_cross_entropy_with_logits": ("input", "target"),
    "soft_margin_loss": ("input", "target"),
    "poisson_nll_loss": ("input", "target"),
    "gaussian_nll_loss": ("input", "target"),
    "kl_div": ("input", "target"),
}


def _build_tables() -> tuple[dict[str, str], dict[str, tuple[str, tuple[str, ...]]]]:
    """Labels of the checked ops and (name, argument names) of the checked losses, keyed
    by qualified name, not by function object: under torch.compile, dynamo may hand
    __torch_function__ its own stand-in for a method (e.g. TensorBase.pow), and a guard on
    "function object in dict" then fails on the very frame that created it (torch 2.13).
    A name is as cheap to look up (a cached string hash)."""
    ops: dict[Any, str] = {}
    owners: tuple[Any, ...] = (torch, torch.Tensor, torch._C.TensorBase, torch.special)
    for name in _ELEMENTWISE:
        label = f"`{_SYMBOLS[name]}` ({name})" if name in _SYMBOLS else f"{name}()"
        for owner in owners:
            for variant in (name, name + "_"):
                obj = getattr(owner, variant, None)
                if obj is not None:
                    ops.setdefault(obj, label if variant == name else f"{variant}()")
    for name, sym in {**_DUNDERS, **_COMPARISONS}.items():
        prefixes = ("", "r", "i") if name in _DUNDERS else ("",)
        for prefix in prefixes:
            obj = getattr(torch.Tensor, f"__{prefix}{name}__", None)
            if obj is not None:
                ops.setdefault(obj, f"`{sym}{'=' if prefix == 'i' else ''}` ({name})")
    losses: dict[Any, tuple[str, tuple[str, ...]]] = {}
    for name, argnames in _LOSSES.items():
        fn = getattr(torch.nn.functional, name, None)
        if fn is not None:
            losses[fn] = (name, argnames)

    def by_name(table: dict[Any, Any]) -> dict[str, Any]:
        return {getattr(f, "__qualname__", repr(f)): v for f, v in table.items()}

    return by_name(ops), by_name(losses)


OPS_BY_NAME, LOSS_FNS_BY_NAME = _build_tables()
