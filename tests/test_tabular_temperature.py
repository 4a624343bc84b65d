"""The temperature figure is written, and shows what it claims (greedy -> uniform)."""

import numpy as np

from agents.tabular import entropy, soft_value_iteration
from analysis.temperature import demo_grid, plot_temperature


def test_plot_temperature_writes_png(tmp_path):
    out = plot_temperature(tmp_path / "sub" / "temperature.png", alphas=(0.01, 1.0))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000


def test_demo_grid_spans_greedy_to_uniform():
    grid = demo_grid()
    live = ~grid.mdp.terminal
    h = [(entropy(soft_value_iteration(grid.mdp, a, tol=1e-8).pi) / np.log(4))[live].mean()
         for a in (0.01, 0.1, 1.0)]
    assert h[0] < 0.1 and 0.2 < h[1] < 0.6 and h[2] > 0.9
