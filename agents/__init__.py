"""adagen's agents: our batched PPO, the Stable-Baselines3 adapter and registry, policy files and their
cards, AdaGen-Bench (:mod:`adagen_agents.bench`), the RLlib recipe (:mod:`adagen_agents.rllib`, needs
Ray), a diffusers pipeline sampling with a policy (``AdaGenPipeline``) and the ``adagen`` command
(:mod:`adagen_agents.cli`). The names below are the stable public API."""

from adagen_agents.card import PipelineRef, PolicyCard
from adagen_agents.diffusers_pipeline import AdaGenPipeline
from adagen_agents.loading import export_policy, load_policy, read_card, sb3_act
from adagen_agents.ppo import PPO, PPOConfig
from adagen_agents.sb3_algorithms import SB3_ALGORITHMS
from adagen_agents.sb3_vec_env import SB3VecEnv
from adagen_agents.train import train_ppo, train_sb3

__all__ = [
    "PPO",
    "AdaGenPipeline",
    "SB3_ALGORITHMS",
    "PPOConfig",
    "PipelineRef",
    "PolicyCard",
    "SB3VecEnv",
    "export_policy",
    "load_policy",
    "read_card",
    "sb3_act",
    "train_ppo",
    "train_sb3",
]
