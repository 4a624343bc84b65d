"""The commands as Python functions of typed configs:

    from cli import PretrainConfig, pretrain
    pretrain(PretrainConfig(env="PointMass-v0"), "runs/pm")
"""

from cli.commands import analyze, pretrain, train, visualize
from cli.configs import FinetuneConfig, HierarchyConfig, PretrainConfig, TrainConfig, read_file, read_run
from cli.reuse import finetune, hierarchy

__all__ = ["FinetuneConfig", "HierarchyConfig", "PretrainConfig", "TrainConfig", "analyze", "finetune",
           "hierarchy", "pretrain", "read_file", "read_run", "train", "visualize"]
