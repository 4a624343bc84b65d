"""The one off-policy loop: act -> step -> store -> relabel -> update -> evaluate -> log -> checkpoint.

Training from scratch, skill pretraining, fine-tuning and the hierarchy are all this loop with
different pieces plugged in: an `Agent` (SAC, the discrete agent), a `SkillPlugin` (none, or
DIAYN's relabeller and discriminator) and an evaluation function. Nothing here knows which.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from agents.buffer import Batch, ReplayBuffer
from agents.checkpoint import load_checkpoint, save_checkpoint
from agents.config import check, non_negative, positive
from agents.logger import MetricsLogger

PolicyFn = Callable[[np.ndarray, int], np.ndarray]


_PROGRESS = {"train/episode_return": "return", "skill/disc_accuracy": "disc_acc",
             "eval/return": "eval_return", "eval/disc_accuracy": "eval_acc"}


def progress_fields(row: dict[str, float]) -> dict[str, str]:
    """What the progress bar shows of a metrics row: training return and discriminator accuracy
    of the latest window, and the latest evaluation's, each kept until a row has a newer one."""
    return {label: f"{row[k]:.3g}" for k, label in _PROGRESS.items() if k in row}


@dataclass(frozen=True)
class LoopConfig:
    total_steps: int = 100_000
    """environment steps to train for (the run's final step count, also across resumes)"""
    eval_every: int | None = None
    """environment steps between evaluations of the deterministic policy (default: a twentieth
    of total_steps)"""
    eval_episodes: int = 5
    """episodes per evaluation"""
    log_every: int | None = None
    """environment steps between rows of metrics.csv (default: 1000, or a twentieth of
    total_steps if smaller)"""
    checkpoint_every: int | None = None
    """environment steps between checkpoints (default: a tenth of total_steps; one is also
    written at the end and on Ctrl-C)"""
    seed: int = 0
    """seeds torch, numpy, the env and its action space"""
    progress: bool = True
    """show a progress bar"""
    random_warmup: bool = field(default=True, metadata={"cli": False})
    """act uniformly at random before the agent's learning_starts (off for fine-tuning, whose
    pretrained policy already acts better than chance)"""
    hold_prob: float = field(default=0.0, metadata={"cli": False})
    """probability that a training step holds the previous step's action instead of drawing a
    new one (from the agent, or at random in the warm-up): held actions explore in long
    stretches, e.g. a hierarchy's skill run long enough to show its gait, which a fresh draw
    every k robot steps keeps cutting short. Off-policy agents learn from the held steps as from
    any other; evaluation never holds. A hold lasts 1 / (1 - hold_prob) steps on average"""

    def __post_init__(self):
        positive(self, "total_steps", "eval_every", "eval_episodes", "log_every", "checkpoint_every")
        non_negative(self, "seed")
        check(self, "hold_prob", 0 <= self.hold_prob < 1, "must be in [0, 1)")

    # The intervals left unset follow total_steps, so that a short run still logs, evaluates
    # and checkpoints a useful number of times.
    @property
    def eval_interval(self) -> int:
        return self.eval_every or max(1, self.total_steps // 20)

    @property
    def log_interval(self) -> int:
        return self.log_every or max(1, min(1_000, self.total_steps // 20))

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or max(1, self.total_steps // 10)


# How many robot steps one env step took. An env whose step runs several steps of an underlying
# robot (the hierarchy's SkillEnv runs a skill for k of them) puts the count in its step's info
# under this key, so that runs compare at equal robot steps; an env without it took one.
ROBOT_STEPS = "robot_steps"
# The task's reward summed over those robot steps, where the env's own reward is another sum
# (SkillEnv's semi-MDP return discounts within a choice): what returns report, undiscounted.
UNDISCOUNTED_REWARD = "undiscounted_reward"
# A task's own measures of an episode (hurdles passed, say): a dict of numbers in the step's
# info under this key, read at the episode's last step; evaluations report each as eval/NAME.
EPISODE_METRICS = "episode_metrics"


class DivergedError(RuntimeError):
    """A loss or parameter became NaN or infinite; the checkpoint on disk is the last finite one."""


class Agent(Protocol):
    cfg: Any  # has batch_size, gradient_steps, train_freq, learning_starts, buffer_size
    device: torch.device

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray: ...
    def update(self, batch: Batch) -> dict[str, float]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


class SkillPlugin(Protocol):
    """What a skill method plugs into the loop; `NoSkills` is the plain-RL case."""

    n_skills: int
    skill_dim: int
    """entries the skill appends to the observation the agent sees (DIAYN: a one-hot of K)"""
    skill_steps: int
    """steps before the skill is redrawn within an episode; 0: once per episode"""
    feature_fn: Callable[[], np.ndarray] | None
    """what the method needs of the state beside the observation, read from the env after each
    step and stored with s' (None: the observation is enough)"""

    def sample_skill(self, rng: np.random.Generator) -> int | np.ndarray:
        """One of K (an int), or a vector z for a method with `continuous_dim` = d > 0."""
        ...

    def condition(self, obs: np.ndarray, skill: int | np.ndarray) -> np.ndarray: ...
    def relabel(self, batch: Batch) -> Batch:
        """The batch as the agent should see it (skill appended, reward relabelled)."""
        ...

    def update(self, batch: Batch) -> tuple[Batch, dict[str, float]]:
        """Train the skill model on `batch`; return the relabelled batch and metrics."""
        ...

    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


class NoSkills:
    """Plain RL: no skill, the observation as it is, the env's reward."""

    n_skills = 0
    skill_dim = 0
    skill_steps = 0
    feature_fn = None

    def sample_skill(self, rng: np.random.Generator) -> int:
        return 0

    def condition(self, obs: np.ndarray, skill: int) -> np.ndarray:
        return obs

    def relabel(self, batch: Batch) -> Batch:
        return batch

    def update(self, batch: Batch) -> tuple[Batch, dict[str, float]]:
        return batch, {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _crossed(prev: int, step: int, every: int) -> bool:
    """Whether a multiple of `every` lies in (prev, step]: steps may advance by more than one."""
    return step // every > prev // every


def _rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def _set_rng_state(rng: np.random.Generator, state: str) -> None:
    rng.bit_generator.state = json.loads(state)


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag checked between steps, so that the loop stops at a
    consistent point and writes a checkpoint instead of dying mid-update."""

    def __init__(self):
        self.stop = False
        self._old: dict[int, Any] = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread: no handler, nothing to restore
                pass
        return self

    def _handle(self, signum, frame):
        if self.stop:  # a second Ctrl-C means now
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


class OffPolicyLoop:
    def __init__(
        self,
        cfg: LoopConfig,
        env: gym.Env,
        agent: Agent,
        evaluate: Callable[[PolicyFn], dict[str, float]],
        run_dir: str | Path,
        plugin: SkillPlugin | None = None,
    ):
        self.cfg, self.env, self.agent, self.evaluate = cfg, env, agent, evaluate
        self.plugin = plugin if plugin is not None else NoSkills()
        self.run_dir = Path(run_dir)
        self.feature_fn = self.plugin.feature_fn
        obs_dim = int(np.prod(env.observation_space.shape))
        action_dim = int(np.prod(env.action_space.shape)) or 1
        feature_dim = 0 if self.feature_fn is None else int(np.size(self.feature_fn()))
        # On the agent's device, so that sampled batches meet the networks where they are.
        self.buffer = ReplayBuffer(min(agent.cfg.buffer_size, cfg.total_steps), obs_dim, action_dim,
                                   feature_dim=feature_dim, device=agent.device,
                                   skill_dim=getattr(self.plugin, "continuous_dim", 0))
        self.rng = np.random.default_rng(cfg.seed)
        self.torch_gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.wall_time = 0.0
        self.episodes = 0
        self.saved_step: int | None = None
        """the step of the checkpoint on disk"""

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "wall_time": self.wall_time,
            "episodes": self.episodes,
            "agent": self.agent.state_dict(),
            "plugin": self.plugin.state_dict(),
            "buffer": self.buffer.state_dict(),
            "rng": _rng_state(self.rng),
            "env_rng": _rng_state(self.env.unwrapped.np_random),
            "action_space_rng": _rng_state(self.env.action_space.np_random),
            "torch_rng": torch.get_rng_state(),
            "torch_gen": self.torch_gen.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.wall_time = float(state["wall_time"])
        self.episodes = int(state["episodes"])
        self.agent.load_state_dict(state["agent"])
        self.plugin.load_state_dict(state["plugin"])
        self.buffer.load_state_dict(state["buffer"])
        _set_rng_state(self.rng, state["rng"])
        _set_rng_state(self.env.unwrapped.np_random, state["env_rng"])
        _set_rng_state(self.env.action_space.np_random, state["action_space_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.torch_gen.set_state(state["torch_gen"])

    def checkpoint(self) -> None:
        """Write the run's state, unless a parameter is no longer finite: then the checkpoint on
        disk stays the last finite one and DivergedError says where."""
        state = self.state_dict()
        bad = _non_finite({"agent": state["agent"], "plugin": state["plugin"]})
        if bad:
            self._diverged(bad, "not finite")
        save_checkpoint(self.run_dir / "checkpoints", state)
        self.saved_step = self.step

    # ------------------------------------------------------------------ acting
    def policy(self, obs: np.ndarray, skill: int) -> np.ndarray:
        """The deterministic policy, for evaluation."""
        return self.agent.act(self.plugin.condition(obs, skill), deterministic=True)

    def _eval(self) -> dict[str, float]:
        return self.evaluate(self.policy)

    def _diverged(self, quantity: str, value: object) -> None:
        kept = ("no checkpoint was written" if self.saved_step is None else
                f"the checkpoint on disk (step {self.saved_step}) is the last finite one")
        raise DivergedError(f"step {self.step}: {quantity} is {value}; {kept}. Lower the learning "
                            "rates in a new run (--config RUN/config.json --lr ...)")

    # ------------------------------------------------------------------ the loop
    def run(self, resume: bool = False) -> dict[str, float]:
        """Train to `cfg.total_steps`; returns the last evaluation's metrics."""
        cfg, env, agent, plugin, buf = self.cfg, self.env, self.agent, self.plugin, self.buffer
        acfg = agent.cfg
        if resume:
            self.load_state_dict(load_checkpoint(self.run_dir / "checkpoints"))
            self.saved_step = self.step
        else:
            torch.manual_seed(cfg.seed)
            # The warm-up's random actions come from the action space's own generator, seeded
            # here too: a wrapper with a space of its own (a hierarchy's SkillEnv) starts unseeded,
            # and its runs would not repeat. make_env seeds its spaces with the same seed, so
            # their draws are as they were.
            env.action_space.seed(cfg.seed)
        logger = MetricsLogger(self.run_dir, resume_step=self.step if resume else None)
        last_eval: dict[str, float] = {}
        if self.step == 0:
            last_eval = self._eval()
            logger.log(0, 0.0, last_eval)

        # A resumed run starts a fresh episode: the transitions before the checkpoint are in the
        # buffer, and a MuJoCo state cannot be restored into Gymnasium's wrappers exactly.
        seed = None if resume or self.step > 0 else cfg.seed
        obs, _ = env.reset(seed=seed)
        obs = obs.astype(np.float32)
        skill = plugin.sample_skill(self.rng)
        held = None  # the last action, which the next step holds with probability hold_prob
        # ep_len counts env steps (a skill is redrawn every skill_steps of them); ep_robot counts
        # robot steps, what train/episode_length reports, as every other step count does.
        ep_return, ep_len, ep_robot = 0.0, 0, 0
        window: dict[str, float] = {}
        n_updates = 0
        ep_returns: list[float] = []
        ep_lens: list[int] = []
        shown = progress_fields(last_eval)
        bar = tqdm(total=cfg.total_steps, initial=self.step, disable=not cfg.progress,
                   unit="step", dynamic_ncols=True, mininterval=0.5)
        eval_every, log_every = cfg.eval_interval, cfg.log_interval
        checkpoint_every = cfg.checkpoint_interval
        t0 = time.perf_counter() - self.wall_time
        with _StopFlag() as stop, logger, bar:
            while self.step < cfg.total_steps and not stop.stop:
                # The draw comes first only where holding is on: a run without it keeps its
                # random streams, and so its results, as they were.
                if held is not None and cfg.hold_prob and self.rng.random() < cfg.hold_prob:
                    action = held
                elif cfg.random_warmup and self.step < acfg.learning_starts:
                    action = env.action_space.sample()
                else:
                    action = agent.act(plugin.condition(obs, skill))
                held = action
                next_obs, reward, terminated, truncated, info = env.step(action)
                next_obs = next_obs.astype(np.float32)
                feature = self.feature_fn() if self.feature_fn is not None else None
                n_robot = info.get(ROBOT_STEPS, 1)
                buf.add(obs, action, reward, next_obs, terminated, skill, feature, n_robot)
                ep_return += float(info.get(UNDISCOUNTED_REWARD, reward))
                ep_len += 1
                ep_robot += n_robot
                obs = next_obs
                if terminated or truncated:
                    ep_returns.append(ep_return)
                    ep_lens.append(ep_robot)
                    self.episodes += 1
                    obs, _ = env.reset()
                    obs = obs.astype(np.float32)
                    skill = plugin.sample_skill(self.rng)
                    ep_return, ep_len, ep_robot = 0.0, 0, 0
                    held = None
                elif plugin.skill_steps and ep_len % plugin.skill_steps == 0:
                    skill = plugin.sample_skill(self.rng)
                    held = None  # an action held across skills would serve neither
                prev = self.step
                self.step += n_robot

                if self.step > acfg.learning_starts and _crossed(prev, self.step, acfg.train_freq):
                    for _ in range(acfg.gradient_steps):
                        batch = buf.sample(acfg.batch_size, self.torch_gen)
                        batch, skill_metrics = plugin.update(batch)
                        for metrics in (skill_metrics, agent.update(batch)):
                            # One sum tells whether every loss is finite; a NaN update would
                            # otherwise train on to the end and checkpoint NaN weights.
                            if not math.isfinite(sum(metrics.values())):
                                bad = next(k for k, v in metrics.items() if not math.isfinite(v))
                                self._diverged(bad, metrics[bad])
                            for k, v in metrics.items():
                                window[k] = window.get(k, 0.0) + v
                        n_updates += 1

                step = self.step
                is_eval = _crossed(prev, step, eval_every) or step >= cfg.total_steps
                if _crossed(prev, step, log_every) or is_eval:
                    self.wall_time = time.perf_counter() - t0
                    row = {k: v / n_updates for k, v in window.items()}
                    if ep_returns:
                        row["train/episode_return"] = float(np.mean(ep_returns))
                        row["train/episode_length"] = float(np.mean(ep_lens))
                    if is_eval:
                        last_eval = self._eval()
                        row.update(last_eval)
                    logger.log(step, self.wall_time, row)
                    window, n_updates, ep_returns, ep_lens = {}, 0, [], []
                    shown.update(progress_fields(row))
                    bar.set_postfix(shown, refresh=False)
                if _crossed(prev, step, checkpoint_every) and step < cfg.total_steps:
                    self.checkpoint()
                bar.update(step - prev)
            self.wall_time = time.perf_counter() - t0
            self.checkpoint()
        if stop.stop:
            raise KeyboardInterrupt(f"stopped at step {self.step}; resume with --resume")
        return last_eval


def _non_finite(state: Any, name: str = "") -> str | None:
    """The name of the first tensor in a (nested) state dict that has a NaN or an infinity."""
    if isinstance(state, dict):
        for k, v in state.items():
            bad = _non_finite(v, f"{name}.{k}" if name else str(k))
            if bad:
                return bad
    elif isinstance(state, torch.Tensor) and state.is_floating_point():
        if not bool(torch.isfinite(state).all()):
            return name
    return None


def evaluate_returns(env: gym.Env, policy: PolicyFn, episodes: int, skill: int = 0,
                     seed: int | None = None) -> dict[str, float]:
    """Mean and spread of the undiscounted return of `policy` over `episodes` episodes (the
    env's UNDISCOUNTED_REWARD where it reports one), their mean length in robot steps
    (ROBOT_STEPS per env step where the env reports it), and the mean of each of the task's
    EPISODE_METRICS at the episodes' last steps, as eval/NAME."""
    returns, lengths, task = [], [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=None if seed is None else seed + i)
        done, ret, n = False, 0.0, 0
        while not done:
            obs, r, terminated, truncated, info = env.step(policy(obs.astype(np.float32), skill))
            ret += float(info.get(UNDISCOUNTED_REWARD, r))
            n += info.get(ROBOT_STEPS, 1)
            done = terminated or truncated
        returns.append(ret)
        lengths.append(n)
        task.append(info.get(EPISODE_METRICS, {}))
    out = {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
           "eval/episode_length": float(np.mean(lengths))}
    for name in task[0] if task else ():
        out[f"eval/{name}"] = float(np.mean([t[name] for t in task]))
    return out
