"""adagen: Gymnasium environments where RL agents learn sample-adaptive generation schedules.

Importing the package registers one environment id per paradigm of
:mod:`adagen_env.paradigms` with Gymnasium (``gym.make`` gives the single env, ``gym.make_vec``
the native batched one), and ``AdaGen/Diffusers-v0`` around a diffusers pipeline you pass in.

The package is layered, each layer a folder: ``processes`` (the generators' step functions,
schedules, solvers, refinement, the plain sampler), ``rewards``, ``envs`` (the episode spec, the
core and the two Gymnasium envs), ``evaluation`` (metrics, generators, comparisons, the
experiment layer, seeds), ``data`` (images in and out), ``runtime`` (devices, distributed,
files, provenance, results), with the registry of paradigms in :mod:`adagen_env.paradigms`.
The names below are the stable public API: import them from ``adagen_env``.
"""

import gymnasium as gym

from adagen_env.data.datasets import ImageDataset, load_digits, load_images
from adagen_env.data.images import image_grid, save_grid
from adagen_env.envs import ScheduleCore, ScheduleEnv, ScheduleVectorEnv, flat_layout
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.adaptivity import mean_action_policy, record_actions
from adagen_env.evaluation.comparison import Comparison, Verdict, compare_images
from adagen_env.evaluation.experiment import Report, run_experiment
from adagen_env.evaluation.generators import balanced_labels, evaluate_generator, policy_generator, static_generator
from adagen_env.evaluation.metrics import Evaluator, noise_floor
from adagen_env.evaluation.seeds import EVALUATION_SEEDS, REPORT_SEEDS, TUNING_SEEDS
from adagen_env.paradigms import PARADIGMS, best_static_schedule, get_paradigm, make_process
from adagen_env.processes import DiffusersProcess, DiffusionProcess, FlowProcess, MaskGITProcess, Process, VARProcess
from adagen_env.processes.refinement import Refinement
from adagen_env.processes.sampling import hand_designed_schedule, sample
from adagen_env.rewards import SCORERS, AdversarialScorer, Scorer

for _paradigm in PARADIGMS.values():
    if _paradigm.env_id not in gym.registry:
        gym.register(
            _paradigm.env_id,
            entry_point="adagen_env.envs:ScheduleEnv",
            vector_entry_point="adagen_env.envs:ScheduleVectorEnv",
            kwargs={"process": _paradigm.name},
        )

# your own diffusers pipeline: gym.make_vec(DIFFUSERS_ENV_ID, num_envs=..., pipeline=pipe);
# diffusers is imported only then
DIFFUSERS_ENV_ID = "AdaGen/Diffusers-v0"
if DIFFUSERS_ENV_ID not in gym.registry:
    gym.register(
        DIFFUSERS_ENV_ID,
        entry_point="adagen_env.envs.diffusers_env:make_diffusers_env",
        vector_entry_point="adagen_env.envs.diffusers_env:make_diffusers_vector_env",
    )

__all__ = [
    "DIFFUSERS_ENV_ID",
    "EVALUATION_SEEDS",
    "PARADIGMS",
    "REPORT_SEEDS",
    "SCORERS",
    "TUNING_SEEDS",
    "AdversarialScorer",
    "Comparison",
    "DiffusersProcess",
    "DiffusionProcess",
    "EpisodeSpec",
    "Evaluator",
    "FlowProcess",
    "ImageDataset",
    "MaskGITProcess",
    "Process",
    "Refinement",
    "Report",
    "ScheduleCore",
    "ScheduleEnv",
    "ScheduleVectorEnv",
    "Scorer",
    "VARProcess",
    "Verdict",
    "balanced_labels",
    "best_static_schedule",
    "compare_images",
    "evaluate_generator",
    "flat_layout",
    "get_paradigm",
    "hand_designed_schedule",
    "image_grid",
    "load_digits",
    "load_images",
    "make_process",
    "mean_action_policy",
    "noise_floor",
    "policy_generator",
    "record_actions",
    "run_experiment",
    "sample",
    "save_grid",
    "static_generator",
]
