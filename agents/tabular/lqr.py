"""A discounted, infinite-horizon, noise-free linear-quadratic regulator: the test problem for
episodic REPS, because its optimal policy is a linear gain with a closed form.

    x_t+1 = A x_t + B u_t,   u_t = -K x_t,   x_0 ~ N(0, Sigma0),
    J(K)  = E sum_t gamma^t (x_t' Q x_t + u_t' R u_t) = tr(P_K Sigma0),
    P_K   = Q + K' R K + gamma (A - B K)' P_K (A - B K)     (a Lyapunov equation).
J(K) is finite iff sqrt(gamma) (A - B K) is stable. Substituting A' = sqrt(gamma) A and
B' = sqrt(gamma) B turns the discounted problem into an undiscounted one, so the optimal P* solves
the discrete algebraic Riccati equation in (A', B', Q, R) and K* = (R + B'' P* B')^-1 B'' P* A'.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_discrete_are


@dataclass(frozen=True, eq=False)
class LQR:
    """x_t+1 = A x_t + B u_t with cost x'Qx + u'Ru, discount gamma, start N(0, Sigma0)."""

    A: np.ndarray
    """Dynamics, shape (n, n)."""
    B: np.ndarray
    """Control matrix, shape (n, m)."""
    Q: np.ndarray
    """State cost, (n, n), symmetric positive semi-definite."""
    R: np.ndarray
    """Control cost, (m, m), symmetric positive definite."""
    gamma: float
    """Discount factor in (0, 1)."""
    Sigma0: np.ndarray
    """Covariance of x_0, shape (n, n)."""

    def __post_init__(self) -> None:
        n, m = np.shape(self.B)
        for name, x, shape in (("A", self.A, (n, n)), ("Q", self.Q, (n, n)), ("R", self.R, (m, m)),
                               ("Sigma0", self.Sigma0, (n, n))):
            if np.shape(x) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {np.shape(x)}")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError(f"gamma must lie in (0, 1), got {self.gamma}")

    @property
    def gain_shape(self) -> tuple[int, int]:
        """Shape (m, n) of a gain K; a search distribution lives on its m * n entries."""
        return self.B.shape[1], self.A.shape[0]


def double_integrator(dt: float = 0.2, gamma: float = 0.95, control_cost: float = 0.1) -> LQR:
    """Position and velocity under a force, x = (p, v): the usual 2-D LQR example. Its
    uncontrolled motion is marginally stable, so the zero gain has a finite discounted cost."""
    A = np.array([[1.0, dt], [0.0, 1.0]])
    B = np.array([[0.5 * dt**2], [dt]])
    return LQR(A, B, np.eye(2), np.array([[control_cost]]), gamma, np.eye(2))


def lqr_cost(lqr: LQR, K: np.ndarray) -> np.ndarray:
    """J(K) = tr(P_K Sigma0) for a batch of gains K, shape (N, m, n) or (m, n); inf where
    sqrt(gamma) (A - B K) is not stable. P_K from vec(P) = (I - gamma A_K' (x) A_K')^-1 vec(C)."""
    K = np.asarray(K, dtype=np.float64)
    single = K.ndim == 2
    K = K[None] if single else K
    n = lqr.A.shape[0]
    A_K = lqr.A[None] - lqr.B[None] @ K  # (N, n, n)
    C = lqr.Q[None] + np.transpose(K, (0, 2, 1)) @ lqr.R[None] @ K
    radius = np.abs(np.linalg.eigvals(A_K)).max(axis=1) * np.sqrt(lqr.gamma)
    kron = np.einsum("kij,kab->kiajb", np.transpose(A_K, (0, 2, 1)), np.transpose(A_K, (0, 2, 1)))
    M = np.eye(n * n)[None] - lqr.gamma * kron.reshape(-1, n * n, n * n)
    P = np.linalg.solve(M, C.reshape(-1, n * n, 1)).reshape(-1, n, n)
    cost = np.einsum("kij,ji->k", P, lqr.Sigma0)
    cost = np.where(radius < 1.0, cost, np.inf)
    return cost[0] if single else cost


def lqr_optimal(lqr: LQR) -> tuple[np.ndarray, float]:
    """(K*, J*) from the Riccati equation of the sqrt(gamma)-scaled system (module docstring)."""
    A, B = np.sqrt(lqr.gamma) * lqr.A, np.sqrt(lqr.gamma) * lqr.B
    P = solve_discrete_are(A, B, lqr.Q, lqr.R)
    K = np.linalg.solve(lqr.R + B.T @ P @ B, B.T @ P @ A)
    return K, float(np.trace(P @ lqr.Sigma0))
