"""Networks for SAC: a tanh-Gaussian actor and twin critics fused into one batched network.

The twin critics run as one network: the first layer of both is one `Linear` with twice the
outputs, later layers are batched matrix products over the ensemble axis (`baddbmm`). That
turns 6 small matrix products into 3 larger ones per pass, which is most of what an SAC update
costs on a CPU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# SB3 and CleanRL clamp the actor's log std to this range; it keeps exp() finite early on.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """pi(a|s): a Gaussian over pre-squash actions u, squashed by tanh into [-1, 1]."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.trunk = mlp(obs_dim, hidden, 2 * action_dim)
        self.action_dim = action_dim

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.trunk(obs).split(self.action_dim, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)


class TwinCritic(nn.Module):
    """Q_1(s,a), Q_2(s,a) evaluated together; returns a (n_critics, batch) tensor."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...], n_critics: int = 2):
        super().__init__()
        if not hidden:
            raise ValueError("the critic needs at least one hidden layer")
        self.n = n_critics
        self.first = nn.Linear(obs_dim + action_dim, n_critics * hidden[0])
        dims = list(hidden) + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            w = torch.empty(n_critics, d_in, d_out)
            b = torch.empty(n_critics, 1, d_out)
            # Same init as nn.Linear (kaiming-uniform with a=sqrt(5)), per ensemble member.
            bound = 1.0 / math.sqrt(d_in)
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, obs: torch.Tensor, action: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """With `detach`, gradients flow to the inputs only (the actor's loss needs dQ/da, not
        dQ/dtheta; skipping the weight gradients saves a third of that backward pass)."""
        w0, b0 = self.first.weight, self.first.bias
        ws, bs = list(self.weights), list(self.biases)
        if detach:
            w0, b0 = w0.detach(), b0.detach()
            ws, bs = [w.detach() for w in ws], [b.detach() for b in bs]
        x = torch.cat([obs, action], dim=-1)
        h = torch.relu(nn.functional.linear(x, w0, b0))  # (B, n*H)
        h = h.view(h.shape[0], self.n, -1).transpose(0, 1)  # (n, B, H)
        for w, b in zip(ws[:-1], bs[:-1]):
            h = torch.relu(torch.baddbmm(b, h, w))
        # The output layer is a matrix-vector product per critic; as a batched matrix product
        # (n, B, H) x (n, H, 1) it takes the CPU's slow skinny-matrix path (~6x the time of this
        # multiply-and-sum, forward and backward), a twentieth of an SAC update.
        return (h * ws[-1].transpose(1, 2)).sum(-1) + bs[-1].squeeze(-1)
