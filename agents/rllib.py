"""Ray RLlib's PPO on any adagen env, with one online discriminator shared by every env runner.

RLlib runs each env runner in its own process. An ``AdversarialScorer`` passed to the envs would
be pickled into every runner, and each copy would train on 1/n of the samples. Here the
discriminator lives in one Ray actor instead (:class:`SharedDiscriminator`); every env on every
runner scores its finished samples through that actor (:class:`RemoteScorer`), so it trains on
all of them, and evaluation runners score with it without training it.

The envs are our native batched vector envs (RLlib's ``"vector_entry_point"`` mode: one
generator forward pass per runner step) with flat observations, which RLlib's default model
takes. Ray is an optional extra: ``pip install 'adagen[rllib]'``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import numpy as np
import torch

from adagen_env.envs import ScheduleEnv, ScheduleVectorEnv
from adagen_env.envs.core import ScheduleCore, flatten
from adagen_env.envs.spec import KNOBS, EpisodeSpec
from adagen_env.evaluation.generators import Act
from adagen_env.paradigms import ENV_IDS, get_paradigm
from adagen_env.rewards import AdversarialScorer

RLLIB_ENV = "adagen"  # the name under which the env creator is registered with Ray Tune
DISCRIMINATOR = "adagen-discriminator"  # the shared discriminator actor's default name


def require_ray() -> None:
    """One clear line when Ray RLlib is missing, before anything is built."""
    try:
        import ray  # noqa: F401
        from ray.rllib.algorithms.ppo import PPOConfig  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "the RLlib recipe needs Ray RLlib, which is not installed: pip install 'adagen[rllib]' "
            "(or pip install 'ray[rllib]')"
        ) from error


class SharedDiscriminator:
    """What the Ray actor runs: one :class:`AdversarialScorer` that all runners' envs call.

    Calls to an actor run one at a time, so the scorer sees the runners' samples in arrival
    order and trains every ``update_every`` of them, whichever runner they came from.
    """

    def __init__(self, **scorer_kwargs: Any):
        self.scorer = AdversarialScorer(**scorer_kwargs)
        self.samples_by_source: dict[str, int] = {}  # trained-on samples per calling process

    def reward(self, images: np.ndarray, labels: np.ndarray, train: bool, source: str = "") -> np.ndarray:
        images_t, labels_t = torch.tensor(images), torch.tensor(labels)  # copies: Ray hands read-only arrays
        if not train:
            return self.scorer.score(images_t, labels_t).numpy()
        self.samples_by_source[source] = self.samples_by_source.get(source, 0) + len(labels)
        return self.scorer(images_t, labels_t).numpy()

    def image_shape(self) -> tuple[int, int]:
        return tuple(self.scorer.image_shape)

    def stats(self) -> dict[str, Any]:
        """The latest discriminator update's loss and logits, its update count, and the samples it
        trained on, in all and per calling process (host:pid)."""
        total = sum(self.samples_by_source.values())
        return {**self.scorer.stats, "samples_seen": total, "samples_by_source": dict(self.samples_by_source)}

    def state_dict(self) -> dict:
        return self.scorer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scorer.load_state_dict(state)


def start_shared_discriminator(name: str = DISCRIMINATOR, **scorer_kwargs: Any):
    """Start the shared discriminator as a named Ray actor (after ``ray.init``); returns its handle.

    ``scorer_kwargs`` go to :class:`AdversarialScorer` (``update_every``, ``steps``, ``lr``,
    ``seed``, ...). The actor asks for no CPU of its own, so it never holds up the runners.
    Keep the handle: the actor lives as long as the driver holds it.
    """
    require_ray()
    import ray

    if not ray.is_initialized():
        raise RuntimeError("start Ray first (ray.init(...)); the shared discriminator is a Ray actor")
    return ray.remote(num_cpus=0)(SharedDiscriminator).options(name=name).remote(**scorer_kwargs)


class RemoteScorer:
    """A scorer that sends finished images to the shared discriminator actor named ``name``.

    It holds only the actor's name, so it pickles into any runner; ``train=False`` scores
    without training (evaluation envs).
    """

    min_batch_size = 1

    def __init__(self, name: str = DISCRIMINATOR, train: bool = True):
        import ray

        self.actor_name, self.train = name, train
        self.name = "adversarial"  # the reward's name, as policy cards record it
        try:
            self.actor = ray.get_actor(name)
        except ValueError as error:
            raise ValueError(
                f"no shared discriminator actor named {name!r}: call start_shared_discriminator({name!r}) "
                "in the driver before building the algorithm"
            ) from error
        self.image_shape = ray.get(self.actor.image_shape.remote())

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import ray

        source = f"{socket.gethostname()}:{os.getpid()}"
        rewards = self.actor.reward.remote(images.detach().cpu().numpy(), labels.cpu().numpy(), self.train, source)
        return torch.tensor(ray.get(rewards), device=images.device)  # a copy: Ray hands read-only arrays

    def scoring_only(self) -> RemoteScorer:
        return RemoteScorer(self.actor_name, train=False)

    def __getstate__(self) -> dict:
        return {"name": self.actor_name, "train": self.train}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)


def episode_spec(config: dict) -> EpisodeSpec:
    """The episode of an ``env_config``: its ``spec`` (an :class:`EpisodeSpec` or its ``to_dict``) with
    any knob given beside it (``num_steps``, ...), and flat observations, which RLlib's default model takes."""
    spec = config.get("spec")
    if isinstance(spec, dict):
        spec = EpisodeSpec.from_dict(spec, "env_config['spec']")
    knobs = {name: value for name, value in config.items() if name in KNOBS}
    return EpisodeSpec.build(spec, **knobs).replace(observation_mode="flat")


def make_env(config: dict) -> ScheduleEnv | ScheduleVectorEnv:
    """RLlib's env creator: the native vector env when RLlib passes ``num_envs``, else the single env.

    ``config`` (RLlib's ``env_config``): ``env_id`` (required), ``spec`` (the episode, see
    :func:`episode_spec`; its knobs may also be given one by one), ``discriminator`` (the shared
    actor's name; ``None`` gives each env the spec's own reward), ``train_discriminator`` (default
    True), ``threads`` (torch threads of this runner process, default 1), ``device``.
    """
    config = dict(config)
    if "env_id" not in config:
        raise ValueError(f"env_config needs 'env_id', one of {sorted(ENV_IDS)}")
    paradigm = get_paradigm(config.pop("env_id"))
    discriminator = config.pop("discriminator", DISCRIMINATOR)
    train = config.pop("train_discriminator", True)
    torch.set_num_threads(config.pop("threads", 1))
    num_envs = config.pop("num_envs", None)
    spec = episode_spec(config)
    if discriminator is not None:
        spec = spec.replace(reward=RemoteScorer(discriminator, train=train))
    rest = {name: value for name, value in config.items() if name not in KNOBS and name != "spec"}
    kwargs = dict(process=paradigm.name, spec=spec, **rest)
    return ScheduleVectorEnv(num_envs=num_envs, **kwargs) if num_envs is not None else ScheduleEnv(**kwargs)


def ppo_config(
    env_id: str,
    num_env_runners: int = 2,
    num_envs_per_env_runner: int = 32,
    discriminator: str | None = DISCRIMINATOR,
    seed: int = 0,
    spec: EpisodeSpec | None = None,
    **env_kwargs: Any,
):
    """An RLlib ``PPOConfig`` for ``env_id`` and the episode ``spec`` (knobs may also be given as
    keywords): ``num_env_runners`` runners of one native vector env of ``num_envs_per_env_runner``
    samples each, all scored by the shared discriminator named ``discriminator`` (start it
    first); evaluation runners score without training it.

    Adjust the rest with RLlib's own methods (``.training(...)``, ``.evaluation(...)``) and
    build with ``.build_algo()``.
    """
    require_ray()
    from ray import tune
    from ray.rllib.algorithms.ppo import PPOConfig

    get_paradigm(env_id)  # an unknown id stops here, naming the choices
    tune.register_env(RLLIB_ENV, make_env)
    knobs = {name: env_kwargs.pop(name) for name in list(env_kwargs) if name in KNOBS}
    spec = EpisodeSpec.build(spec, **knobs)  # checked here, in the driver, before any runner starts
    env_config = {"env_id": env_id, "discriminator": discriminator, "spec": spec.to_dict(), **env_kwargs}
    return (
        PPOConfig()
        .environment(RLLIB_ENV, env_config=env_config)
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
        )
        .evaluation(evaluation_config=PPOConfig.overrides(env_config={**env_config, "train_discriminator": False}))
        .debugging(seed=seed)
    )


def rllib_act(algo) -> Act:
    """The trained RLlib policy's mean action for our (Dict, torch) observations, for
    :func:`adagen_env.evaluation.policy_generator` and the static-vs-learned comparison."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    module = algo.get_module(DEFAULT_MODULE_ID)
    config = algo.config.env_config
    process = get_paradigm(config["env_id"]).name
    space = ScheduleCore(process, 1, episode_spec(config).replace(reward=None)).observation_space()
    dist_cls = module.get_inference_action_dist_cls()

    @torch.no_grad()
    def act(observation: dict[str, torch.Tensor]) -> torch.Tensor:
        out = module.forward_inference({"obs": flatten(space, observation)})
        action = dist_cls.from_logits(out["action_dist_inputs"]).to_deterministic().sample()
        return action.clamp(-1, 1)

    return act
