"""Discrete-time LQR: the Riccati solver the linear-feedback experts share.

The experts that balance something upright (the inverted pendulums; CartPole and the top
of Pendulum can use it too) linearise their dynamics at the upright state into
``x' = A x + B u`` and feed back ``u = -K x`` with the gain that minimises
``sum x'Qx + u'Ru``. The gain comes from the discrete algebraic Riccati equation

    P = Q + A'PA - A'PB (R + B'PB)^-1 B'PA,      K = (R + B'PB)^-1 B'PA,

solved here by fixed-point iteration in plain numpy (no scipy dependency): starting from
``P = Q``, each iteration is one more step of the finite-horizon LQR recursion, which
converges to the stabilising solution whenever ``(A, B)`` is stabilisable and ``Q`` is
positive definite, as it is for every expert here. The systems are tiny (4-6 states), so
a few hundred iterations cost well under a millisecond each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jaxtyping import Complex, Float

from shapesafe import check
from shapesafe._format import error
from shapesafe.errors import UsageError

__all__ = ["closed_loop_eigenvalues", "dlqr"]


@check
def dlqr(
    A: Float[np.ndarray, "state state"],
    B: Float[np.ndarray, "state act"],
    Q: Float[np.ndarray, "state state"],
    R: Float[np.ndarray, "act act"],
    *,
    max_iterations: int = 100_000,
    tol: float = 1e-12,
) -> tuple[Float[np.ndarray, "act state"], Float[np.ndarray, "state state"]]:
    """The infinite-horizon discrete LQR gain ``K`` (``u = -K x``) and the Riccati
    solution ``P``.

    Raises:
        UsageError: when the iteration does not converge (``(A, B)`` not stabilisable,
            or ``Q``/``R`` not positive definite).

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.experts._lqr import dlqr
        >>> K, P = dlqr(np.eye(1), np.eye(1), np.eye(1), np.eye(1))
        >>> round(float(K[0, 0]), 6)  # the golden ratio's inverse: K = P / (1 + P)
        0.618034
    """
    P = Q.copy()
    for _ in range(max_iterations):
        BtP = B.T @ P
        K = np.linalg.solve(R + BtP @ B, BtP @ A)
        P_next = Q + A.T @ P @ (A - B @ K)
        P_next = (P_next + P_next.T) / 2  # keep it symmetric against round-off
        scale = float(np.max(np.abs(P_next)))
        if not np.isfinite(scale) or scale > 1e100:  # diverging: unstabilisable
            break
        if np.max(np.abs(P_next - P)) <= tol * max(1.0, scale):
            BtP = B.T @ P_next
            return np.linalg.solve(R + BtP @ B, BtP @ A), P_next
        P = P_next
    raise error(
        UsageError,
        "the discrete Riccati iteration did not converge",
        function="dlqr",
        expected="a stabilisable (A, B) and positive definite Q and R",
        got=f"no fixed point within {max_iterations} iterations",
        hint="check the linearisation (is the system controllable from the input?)",
    )


@check
def closed_loop_eigenvalues(
    A: Float[np.ndarray, "state state"],
    B: Float[np.ndarray, "state act"],
    K: Float[np.ndarray, "act state"],
) -> Complex[np.ndarray, " state"]:
    """Eigenvalues of ``A - B K``: the feedback is stable when all lie inside the unit
    circle."""
    eig: np.ndarray[Any, Any] = np.linalg.eigvals(A - B @ K).astype(np.complex128)
    return eig
