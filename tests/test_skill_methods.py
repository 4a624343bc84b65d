"""The skill-method contract: a second method plugs in by one class and one registry entry, and
trains, saves and loads through the same loop and SkillLibrary; every tensor on one device."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch

from agents.buffer import Batch
from agents.loop import LoopConfig
from agents.sac import SACConfig
from cli import PretrainConfig, pretrain
from cli.configs import read_run
from skills.diayn import DIAYN, DIAYNConfig
from skills.library import SkillLibrary


@dataclass(frozen=True)
class RandomFeatureConfig:
    method: ClassVar[str] = "random-feature"
    n_skills: int = 3
    width: int = 2
    """how many random projections of the observation the discriminator sees"""


class RandomFeature:
    """DIAYN whose discriminator sees a fixed random projection of s': a toy second method."""

    Config = RandomFeatureConfig
    skill_steps = 0
    feature_fn = None

    def __init__(self, obs_dim: int, cfg: RandomFeatureConfig):
        self.cfg, self.n_skills, self.skill_dim = cfg, cfg.n_skills, cfg.n_skills
        self.proj = torch.randn(obs_dim, cfg.width, generator=torch.Generator().manual_seed(7))
        self.diayn = DIAYN(cfg.width, DIAYNConfig(n_skills=cfg.n_skills, hidden=(16,), lr=1e-2))

    @classmethod
    def build(cls, env, cfg, device="cpu"):
        return cls(env.observation_space.shape[0], cfg)

    def _projected(self, batch: Batch) -> Batch:
        return batch._replace(next_feature=batch.next_obs @ self.proj)

    def feature_for(self, env):
        return None

    def sample_skill(self, rng):
        return int(rng.integers(self.n_skills))

    def condition(self, obs, skill):
        return self.diayn.condition(obs, skill)

    def relabel(self, batch):
        return self.diayn.relabel(self._projected(batch))

    def update(self, batch):
        return self.diayn.update(self._projected(batch))

    def predict(self, features):
        return self.diayn.predict(np.asarray(features, np.float32) @ self.proj.numpy())

    def state_dict(self):
        return {"diayn": self.diayn.state_dict(), "proj": self.proj}

    def load_state_dict(self, state):
        self.diayn.load_state_dict(state["diayn"])
        self.proj = state["proj"]


def test_a_second_skill_method_trains_saves_and_loads(tmp_path, monkeypatch):
    from skills import registry

    monkeypatch.setitem(registry.METHODS, "random-feature", RandomFeature)
    cfg = PretrainConfig(loop=LoopConfig(total_steps=600, eval_every=600, progress=False),
                         sac=SACConfig(hidden=(16, 16), batch_size=32, learning_starts=200),
                         skills=RandomFeatureConfig())
    final = pretrain(cfg, tmp_path)
    assert 0.0 <= final["eval/disc_accuracy"] <= 1.0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["skill/disc_loss"].notna().any()  # its update ran in the loop
    assert read_run(tmp_path) == cfg  # config.json names the method and reads back whole

    lib = SkillLibrary.load(tmp_path)
    assert isinstance(lib.method, RandomFeature) and lib.n_skills == 3
    trained = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=True)
    assert torch.equal(lib.method.proj, trained["plugin"]["proj"])
    roll = lib.rollout(z=2, steps=20)
    assert roll.actions.shape == (20, 2) and roll.log_q_z.shape == (20,)


def test_buffer_batches_and_networks_live_on_the_configs_device(tmp_path, monkeypatch):
    """The loop builds the buffer on the agent's device and batches come out there; on a GPU
    machine the same test with device "cuda" would catch CPU batches meeting GPU networks."""
    from agents import loop as loop_module

    seen = {}
    original = loop_module.OffPolicyLoop.run

    def run(self, resume=False):
        seen["buffer"] = self.buffer.device
        out = original(self, resume)
        seen["batch"] = {t.device for t in self.buffer.sample(4)}
        seen["networks"] = {p.device for p in self.agent.actor.parameters()}
        seen["plugin"] = {p.device for p in self.plugin.discriminator.parameters()}
        return out

    monkeypatch.setattr(loop_module.OffPolicyLoop, "run", run)
    cfg = PretrainConfig(device="cpu", loop=LoopConfig(total_steps=150, progress=False),
                         sac=SACConfig(hidden=(8,), batch_size=8, learning_starts=100),
                         skills=DIAYNConfig(n_skills=2, hidden=(8,)))
    pretrain(cfg, tmp_path)
    want = torch.device(cfg.device)
    assert seen["buffer"] == want and seen["batch"] == {want}
    assert seen["networks"] == {want} and seen["plugin"] == {want}


@pytest.mark.parametrize("method, env, feature", [("metra", "PointMass-v0", "bogus"),
                                                  ("lsd", "PointMass-v0", "bogus"),
                                                  ("diayn", "Hopper-v5", "xy")])
def test_a_feature_the_env_does_not_expose_is_one_line_and_exit_2(method, env, feature, tmp_path, capsys):
    from run import main

    run = tmp_path / "r"
    assert main(["pretrain", "--method", method, "--env", env, "--feature", feature,
                 "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"env {env} exposes no feature {feature!r}" in err and len(err.strip().splitlines()) == 1
    assert not run.exists()
