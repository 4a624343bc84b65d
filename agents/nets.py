"""Networks for SAC: a tanh-Gaussian actor and twin critics fused into one batched network.

The twin critics run as one network: every layer is a batched matrix product over the ensemble
axis (`baddbmm`), the first one over the input broadcast to each critic. That turns 6 small
matrix products into 3 larger ones per pass, which is most of what an SAC update costs on a CPU.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

# SB3 and CleanRL clamp the actor's log std to this range; it keeps exp() finite early on.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        # In place: the Linear's output is needed by nothing else, and writing into fresh
        # memory made the activation ~3x slower on a CPU.
        layers += [nn.Linear(d, h), nn.ReLU(inplace=True)]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


def matmuls_in(dtype: torch.dtype, device: torch.device) -> contextlib.AbstractContextManager:
    """The matrix products inside run in `dtype` (autocast; nothing for float32). The casts of
    the weights are made afresh on each entry, so an optimizer step between two passes is seen."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class Actor(nn.Module):
    """pi(a|s): a Gaussian over pre-squash actions u, squashed by tanh into [-1, 1]."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...],
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.trunk = mlp(obs_dim, hidden, 2 * action_dim)
        self.action_dim = action_dim
        self.dtype = dtype  # of the matrix products

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with matmuls_in(self.dtype, obs.device):
            out = self.trunk(obs)
        # The Gaussian's parameters in float32: log-probabilities lose too much in bfloat16.
        mean, log_std = out.float().split(self.action_dim, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)


class TwinCritic(nn.Module):
    """Q_1(s,a), Q_2(s,a) evaluated together; returns a (n_critics, batch) tensor.

    Layer l of critic i is `weights[l][i]` (in, out) and `biases[l][i]` (1, out)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...], n_critics: int = 2,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if not hidden:
            raise ValueError("the critic needs at least one hidden layer")
        self.n = n_critics
        self.dtype = dtype  # of the hidden layers' matrix products
        dims = [obs_dim + action_dim, *hidden, 1]
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
        self._register_load_state_dict_pre_hook(_upgrade_module_state)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """With `detach`, gradients flow to the inputs only (the actor's loss needs dQ/da, not
        dQ/dtheta; skipping the weight gradients saves a third of that backward pass)."""
        ws, bs = list(self.weights), list(self.biases)
        if detach:
            ws, bs = [w.detach() for w in ws], [b.detach() for b in bs]
        x = torch.cat([obs, action], dim=-1)
        # The input broadcast over the critics (no copy): the first layer as one batched
        # product, where one Linear with n*H outputs needed a transposed view of its output
        # and a copy of it in the backward pass (9% of a critic's training pass).
        h = x.expand(self.n, *x.shape)
        with matmuls_in(self.dtype, x.device):
            for w, b in zip(ws[:-1], bs[:-1]):
                h = torch.relu_(torch.baddbmm(b, h, w))
        # The output layer is a matrix-vector product per critic; as a batched matrix product
        # (n, B, H) x (n, H, 1) it takes the CPU's slow skinny-matrix path (~6x the time of this
        # multiply-and-sum, forward and backward), a twentieth of an SAC update. In the hidden
        # layers' dtype (a product of bfloat16 and float32 takes a slow path too), summed in
        # float32: Q-values of a few hundred have steps of ~1 in bfloat16.
        w = ws[-1].transpose(1, 2).to(h.dtype)
        return (h * w).sum(-1, dtype=torch.float32) + bs[-1].squeeze(-1)


# ---------------------------------------------------------------- checkpoints of the older layout
# Until 2026-12 the critics' first layer was one Linear, `first.weight` (n*H, in) and
# `first.bias` (n*H,), ahead of `weights.0..` and `biases.0..`; now it is weights.0 (n, in, H)
# and biases.0 (n, 1, H). Checkpoints of that layout load, optimizer moments included.


def _first_layer(weight: torch.Tensor, bias: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An old fused first layer (or its Adam moments) as the batched layer's (weight, bias)."""
    return (weight.view(n, -1, weight.shape[1]).transpose(1, 2).contiguous(),
            bias.view(n, 1, -1).clone())


def _upgrade_module_state(state: dict, prefix: str, *args) -> None:
    if prefix + "first.weight" not in state:
        return
    n = state[prefix + "weights.0"].shape[0]
    for kind in ("weights", "biases"):
        old = sorted((k for k in state if k.startswith(f"{prefix}{kind}.")),
                     key=lambda k: int(k.rsplit(".", 1)[1]))
        moved = [state.pop(k) for k in old]
        for i, v in enumerate(moved, start=1):
            state[f"{prefix}{kind}.{i}"] = v
    state[prefix + "weights.0"], state[prefix + "biases.0"] = _first_layer(
        state.pop(prefix + "first.weight"), state.pop(prefix + "first.bias"), n)


def upgrade_critic_optimizer(opt_state: dict, critic_state: dict) -> dict:
    """An Adam state_dict of a critic of the older layout (see above) for the current one;
    `critic_state` is that critic's module state as saved. Anything else is returned as is."""
    if "first.weight" not in critic_state:
        return opt_state
    n = critic_state["weights.0"].shape[0]
    n_layers = 1 + sum(k.startswith("weights.") for k in critic_state)
    # Old order: first.weight, first.bias, weights.0.., biases.0..; new: weights.0.., biases.0..
    old_ids = opt_state["param_groups"][0]["params"]
    new_from_old = [0, *range(2, n_layers + 1), 1, *range(n_layers + 1, 2 * n_layers)]
    state = {}
    for new, old in enumerate(new_from_old):
        if old_ids[old] in opt_state["state"]:
            state[old_ids[new]] = dict(opt_state["state"][old_ids[old]])
    first_w, first_b = state.get(old_ids[0]), state.get(old_ids[n_layers])
    if first_w and first_b:
        for key in ("exp_avg", "exp_avg_sq"):
            first_w[key], first_b[key] = _first_layer(first_w[key], first_b[key], n)
    return {"state": state, "param_groups": opt_state["param_groups"]}
