"""What the temperature alpha does to a soft-optimal policy, drawn on one gridworld.

Top row: pi*(a|s) as four arrows per cell, each as long as its probability, over the policy's
normalised entropy H(pi(.|s)) / log A (its mean over cells in the title). Bottom row: the
discounted state visitation d^pi*, on one log scale for all alphas. Walls are grey.
As alpha -> 0 one arrow per cell remains (greedy); as alpha grows all four arrows have equal
length and the visitation spreads over the grid. Cells next to the goal stay less random at
large alpha: ending the episode forfeits all future entropy bonus (V = 0 at terminal states),
so the soft-optimal agent steers away from the goal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from agents.tabular import GridWorld, entropy, gridworld, soft_value_iteration, state_visitation
from agents.tabular.grids import MOVES

DEMO_LAYOUT: tuple[str, ...] = (
    "S...#....",
    ".##.#.##.",
    ".#.....#.",
    ".#.##.#G.",
    "...#.....",
)


def demo_grid() -> GridWorld:
    """The gridworld drawn by ``plot_temperature``: one goal behind a few walls. Rewards are
    scaled so that alpha = 0.1 sits between greedy and uniform (normalised entropy ~0.3)."""
    return gridworld(DEMO_LAYOUT, slip=0.1, step_reward=-0.2, goal_reward=5.0, gamma=0.95)


def _draw_policy(ax, grid: GridWorld, pi: np.ndarray, alpha: float):
    n_actions = grid.mdp.n_actions
    h_norm = entropy(pi) / np.log(n_actions)
    image = ax.imshow(grid.to_grid(h_norm), cmap="viridis", vmin=0.0, vmax=1.0)
    live = ~grid.mdp.terminal
    rows, cols = grid.cells[live, 0], grid.cells[live, 1]
    for a, (dr, dc) in enumerate(MOVES):
        # imshow puts row 0 at the top, so a move of +1 row points down on screen.
        length = 0.45 * pi[live, a]
        ax.quiver(cols, rows, dc * length, -dr * length, angles="xy", scale_units="xy",
                  scale=1.0, color="white", width=0.006)
    goal = grid.cells[grid.mdp.terminal]
    ax.scatter(goal[:, 1], goal[:, 0], marker="*", s=120, color="gold")
    ax.set_title(f"alpha={alpha:g}: pi*, mean {h_norm[live].mean():.2f}")
    return image


def _draw_visitation(ax, grid: GridWorld, p: np.ndarray, norm: LogNorm):
    ax.set_title("state visitation d^pi*")
    return ax.imshow(grid.to_grid(p), cmap="magma", norm=norm)


def plot_temperature(
    out_path: str | Path, alphas: Sequence[float] = (0.01, 0.1, 1.0, 10.0)
) -> Path:
    """Draw policy and visitation for each alpha side by side and save a PNG at ``out_path``."""
    out_path = Path(out_path)
    grid = demo_grid()
    # Figure + savefig use the Agg canvas directly: no pyplot, no global backend switch.
    fig = Figure(figsize=(3.4 * len(alphas) + 1.0, 5.0), layout="constrained")
    axes = fig.subplots(2, len(alphas), squeeze=False)
    visits = []
    for j, alpha in enumerate(alphas):
        sol = soft_value_iteration(grid.mdp, alpha, tol=1e-8)
        entropy_image = _draw_policy(axes[0, j], grid, sol.pi, alpha)
        d = state_visitation(grid.mdp, sol.pi)
        visits.append(d / d.sum())
    # One log scale for every panel, so one colour bar reads them all: discounting piles mass
    # on the start cell, and a linear scale would hide the rest.
    top = max(p.max() for p in visits)
    norm = LogNorm(vmin=1e-3 * top, vmax=top, clip=True)
    for j, p in enumerate(visits):
        visit_image = _draw_visitation(axes[1, j], grid, p, norm)
    fig.colorbar(entropy_image, ax=axes[0, :], label="H(pi(.|s)) / log A", shrink=0.9)
    fig.colorbar(visit_image, ax=axes[1, :], label="share of visits (log)", shrink=0.9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("0.6")  # walls are NaN, drawn as grey background
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=80)
    return out_path


if __name__ == "__main__":
    print(plot_temperature("runs/temperature.png"))
