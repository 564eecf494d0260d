"""The policy card: what a policy file records about its training, under a versioned schema.

Every policy file holds one: ours (``.pt``, key ``card``) and the ``.json`` that ``adagen train``
writes beside an SB3 ``.zip``. It names the env and the algorithm, and holds the episode spec
the policy was trained in (:class:`~adagen_env.envs.spec.EpisodeSpec`), so that ``adagen
eval``/``sample``/``actions`` and ``policy_generator`` sample it exactly as it was trained.

Reading is strict: a card of another schema version, or with keys this version does not know, is
one clear ``ValueError`` line naming the file. Files written before cards existed (a free-form
``metadata`` dict) are read through :func:`card_from_legacy`, which knows their keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adagen_env.envs.spec import EpisodeSpec
from adagen_env.paradigms import get_paradigm

if TYPE_CHECKING:
    from adagen_env.envs.core import ScheduleCore

CARD_SCHEMA = 1
CARD_KEYS = ("schema", "env", "algo", "spec", "num_envs", "generator")
GENERATOR_KEYS = ("path", "data", "image_shape", "sha256")


@dataclass(frozen=True)
class GeneratorRef:
    """A user's own generator (a file of ``adagen generator``) the policy was trained for."""

    path: str
    data: str
    image_shape: tuple[int, int, int]  # (C, H, W) of the images it makes
    sha256: str | None = None  # the file's content hash (None in cards migrated from before it was kept)


@dataclass(frozen=True)
class PolicyCard:
    """``env``: the registered env id (``None``: a process of your own); ``algo``: ``ppo`` or an SB3
    algorithm's name; ``spec``: the resolved episode spec of training; ``num_envs``: samples per
    batch while training; ``generator``: the user's generator it was trained for, if any."""

    env: str | None
    algo: str
    spec: EpisodeSpec
    num_envs: int | None = None
    generator: GeneratorRef | None = None

    @classmethod
    def of(
        cls, core: ScheduleCore, algo: str, env: str | None = None, generator: GeneratorRef | None = None
    ) -> PolicyCard:
        """The card of a policy trained on ``core``: its resolved spec and batch size; ``env`` defaults
        to the core's registered env, if it was built from one by name."""
        if env is None and core.paradigm is not None:
            env = core.paradigm.env_id
        return cls(env, algo, core.spec, core.num_envs, generator)

    @property
    def process_name(self) -> str | None:
        """The registered paradigm's name (``maskgit-digits``), or ``None`` for a process of your own."""
        return None if self.env is None else get_paradigm(self.env).name

    @property
    def num_steps(self) -> int:
        return self.spec.num_steps

    def sampling_spec(self, **overrides: Any) -> EpisodeSpec:
        """The spec to sample this policy with (:meth:`EpisodeSpec.for_sampling`)."""
        return self.spec.for_sampling(**overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``torch.save(weights_only)`` files and JSON."""
        generator = (
            None
            if self.generator is None
            else {**dataclasses.asdict(self.generator), "image_shape": list(self.generator.image_shape)}
        )
        return {
            "schema": CARD_SCHEMA,
            "env": self.env,
            "algo": self.algo,
            "spec": self.spec.to_dict(),
            "num_envs": self.num_envs,
            "generator": generator,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> PolicyCard:
        """A card from :meth:`to_dict`'s data; one-line ``ValueError`` naming ``source`` otherwise."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: damaged policy card (not a dict)")
        schema = data.get("schema")
        if schema != CARD_SCHEMA:
            raise ValueError(
                f"{source}: policy card schema {schema!r}, but this adagen reads schema {CARD_SCHEMA}; "
                "use the adagen version that wrote it"
            )
        unknown = set(data) - set(CARD_KEYS)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))} in its policy card "
                f"(schema {CARD_SCHEMA} has {', '.join(CARD_KEYS)})"
            )
        for key in ("env", "algo", "spec"):
            if key not in data:
                raise ValueError(f"{source}: damaged policy card (no {key})")
        return cls(
            env=_env(data["env"], source),
            algo=_text(data["algo"], "algo", source),
            spec=EpisodeSpec.from_dict(data["spec"], source),
            num_envs=data.get("num_envs"),
            generator=_generator(data.get("generator"), source),
        )


def card_from_legacy(metadata: Any, source: str) -> PolicyCard:
    """The card of a file written before cards existed: its free-form ``metadata`` (env, process,
    num_steps, reward, algo, num_envs, smoothing, tradeoff, baseline, generator, data, image_shape)."""
    known = {
        "env",
        "process",
        "num_steps",
        "reward",
        "algo",
        "num_envs",
        "smoothing",
        "tradeoff",
        "baseline",
        "generator",
        "data",
        "image_shape",
    }
    if not isinstance(metadata, dict):
        raise ValueError(f"{source}: damaged policy file (its metadata is not a dict)")
    unknown = set(metadata) - known
    if unknown:
        raise ValueError(
            f"{source}: unknown metadata key(s) {', '.join(sorted(map(str, unknown)))}; not a policy file adagen wrote"
        )
    if not isinstance(metadata.get("num_steps"), int) or "algo" not in metadata:
        raise ValueError(f"{source}: damaged policy file (its metadata lacks num_steps or algo)")
    env = metadata.get("env") or (get_paradigm(metadata["process"]).env_id if "process" in metadata else None)
    spec = EpisodeSpec.from_dict(
        {
            "num_steps": metadata["num_steps"],
            "reward": metadata.get("reward"),
            "smoothing": metadata.get("smoothing", 0.0),
            "tradeoff": "random" if metadata.get("tradeoff") is True else None,
            "baseline": metadata.get("baseline"),
        },
        source,
    )
    generator = None
    if metadata.get("generator"):
        generator = _generator(
            {"path": metadata["generator"], "data": metadata.get("data"), "image_shape": metadata.get("image_shape")},
            source,
        )
    return PolicyCard(
        _env(env, source), _text(metadata["algo"], "algo", source), spec, metadata.get("num_envs"), generator
    )


def _env(env: Any, source: str) -> str | None:
    if env is None:
        return None
    try:
        return get_paradigm(env).env_id
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def _text(value: Any, name: str, source: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{source}: damaged policy card ({name} is not a string)")
    return value


def _generator(data: Any, source: str) -> GeneratorRef | None:
    if data is None:
        return None
    if not isinstance(data, dict) or not set(GENERATOR_KEYS[:3]) <= set(data) <= set(GENERATOR_KEYS):
        raise ValueError(f"{source}: damaged policy card (its generator has {', '.join(GENERATOR_KEYS)})")
    shape = data["image_shape"]
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(isinstance(v, int) for v in shape)):
        raise ValueError(f"{source}: damaged policy card (generator image_shape must be 3 integers)")
    sha256 = data.get("sha256")
    return GeneratorRef(
        _text(data["path"], "generator path", source),
        _text(data["data"], "generator data", source),
        tuple(shape),
        None if sha256 is None else _text(sha256, "generator sha256", source),
    )
