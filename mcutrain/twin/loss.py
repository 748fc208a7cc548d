"""Output error of the squared hinge loss, with sign flips and shifts only."""

from __future__ import annotations

import numpy as np

from ..arith.fixed import shift
from ..arith.plan import ArithPlan


def squared_hinge_error(y: np.ndarray, label: int, plan: ArithPlan) -> tuple[np.ndarray, int]:
    """Half the gradient of sum_j max(0, 1 - t_j y_j)^2, in Q(E); and sum_j max(0, 1 - t_j y_j) in Q(A)."""
    ty = -y.copy()
    ty[label] = y[label]
    margin = np.maximum(plan.one - ty, 0)
    e = -margin
    e[label] = margin[label]
    e = -e  # e_j = -t_j * margin_j
    delta = np.clip(shift(e, plan.err_frac - plan.act_frac), -plan.err_max, plan.err_max)
    return delta, int(margin.sum())
