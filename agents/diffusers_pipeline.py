"""Back to diffusers: a pipeline that samples with a trained schedule policy, as the pipeline does.

``AdaGenPipeline(pipe, "policy.pt")(class_labels, num_inference_steps=N)`` (a text-to-image
pipeline: ``(prompt=["a red fox", ...])``) returns diffusers' ``ImagePipelineOutput``, each sample
taking its own timesteps and guidance from the policy. It loads the policy without a reward
(nothing is trained or scored) and refuses a pipeline other than the one the policy was trained
on (another model, scheduler, VAE or text encoder config, guidance scale or class map), before any
sampling. With the same ``generator`` it draws the pipeline's own noise, so a policy whose actions
are all zero gives the pipeline's own images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from adagen_agents.card import PipelineRef, PolicyCard
from adagen_agents.loading import load_policy, read_card
from adagen_env.envs.core import ScheduleCore
from adagen_env.evaluation.generators import Act
from adagen_env.processes.diffusers_adapter import DiffusersProcess, is_text_pipeline, pipeline_labels


class AdaGenPipeline:
    """``pipeline`` (the diffusers pipeline the policy was trained on) sampling with ``policy`` (a
    ``.pt`` of ``adagen train --pipeline`` or ``PPO.save``, or an SB3 ``.zip`` with ``trust_pickle``)."""

    def __init__(self, pipeline: Any, policy: str | Path, trust_pickle: bool = False):
        self.pipeline, self.policy, self.trust_pickle = pipeline, Path(policy), trust_pickle
        self.card: PolicyCard = read_card(policy)
        if self.card.pipeline is None:
            raise ValueError(f"{policy} was not trained on a diffusers pipeline; sample it with adagen sample")
        self.ref: PipelineRef = self.card.pipeline
        self.prompted = is_text_pipeline(pipeline)
        self._loaded: dict[int, tuple[DiffusersProcess, Act]] = {}
        # another pipeline is refused now, not at the first call
        self.policy_at(self.card.num_steps, ["a prompt"] if self.prompted else None)

    def policy_at(self, num_steps: int, prompts: list[str] | None = None) -> tuple[DiffusersProcess, Act]:
        """The pipeline's process at ``num_steps`` (with the policy's guidance scale and class map; a
        text-to-image pipeline's on ``prompts``) and the policy."""
        if num_steps in self._loaded and prompts is None:
            return self._loaded[num_steps]
        process = DiffusersProcess.from_pipeline(
            self.pipeline,
            num_steps,
            self.ref.guidance_scale,
            null_class=self.ref.null_class,
            class_ids=self.ref.class_ids,
            prompts=prompts,
        )
        if num_steps not in self._loaded:  # the act reads observations only: one per step count serves any prompts
            act, _ = load_policy(self.policy, process, None, num_steps, self.trust_pickle)
            self._loaded[num_steps] = process, act
        return process, self._loaded[num_steps][1]

    def labels(self, class_labels: int | str | Sequence[int | str] | None, batch_size: int | None) -> torch.Tensor:
        """The policy's labels of ``class_labels``: the model's class ids (as the pipeline takes them), or
        names (the policy's class names, or the pipeline's labels); a model without classes takes ``batch_size``."""
        if self.ref.class_ids is None:
            if class_labels is not None:
                raise ValueError("this pipeline's model takes no class: give batch_size=N, not class_labels")
            return torch.zeros(batch_size or 1, dtype=torch.long)
        if class_labels is None:
            raise ValueError("give class_labels: the model's class ids, or class names")
        given = [class_labels] if isinstance(class_labels, (int, str)) else list(class_labels)
        return torch.tensor([self._label(value) for value in given], dtype=torch.long)

    def _label(self, value: int | str) -> int:
        names, ids = self.ref.class_names or (), self.ref.class_ids
        if isinstance(value, str) and value in names:
            return names.index(value)
        model_id = pipeline_labels(self.pipeline).get(value) if isinstance(value, str) else int(value)
        if model_id not in ids:
            shown = ", ".join(f"{i} ({name})" if name else str(i) for i, name in zip(ids, names or [None] * len(ids)))
            raise ValueError(f"class {value!r} is not one the policy was trained for; its classes: {shown}")
        return ids.index(model_id)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: int | str | Sequence[int | str] | None = None,
        num_inference_steps: int | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        batch_size: int | None = None,
        prompt: str | Sequence[str] | None = None,
    ) -> Any:
        """Sample as the pipeline does (``num_inference_steps``: default the policy's steps; ``output_type``
        ``"pil"``, ``"np"`` or ``"pt"``), every sample on its own schedule; diffusers' ``ImagePipelineOutput``.
        A text-to-image pipeline takes ``prompt`` (one text or a list, one image each) instead of classes."""
        from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"output_type must be pil, np or pt, not {output_type!r}")
        num_steps = num_inference_steps or self.card.num_steps
        if self.prompted:
            if prompt is None or class_labels is not None:
                raise ValueError("this is a text-to-image pipeline: give prompt=..., not class_labels")
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            process, act = self.policy_at(num_steps, prompts)
            labels = torch.arange(len(prompts))
        else:
            if prompt is not None:
                raise ValueError("prompt is for a text-to-image pipeline; give class_labels")
            labels = self.labels(class_labels, batch_size)
            process, act = self.policy_at(num_steps)
        core = ScheduleCore(process, len(labels), self.card.sampling_spec(num_steps=num_steps), generator=generator)
        observation = core.reset(labels)
        for _ in range(core.num_steps):
            observation, _, _, _ = core.step(act(observation))
        images = core.images()  # (B, C, H, W) in [0, 1], as the pipelines make them before output_type
        if output_type != "pt":
            images = images.cpu().permute(0, 2, 3, 1).float().numpy()
            if output_type == "pil":
                images = self.pipeline.numpy_to_pil(images)
        return ImagePipelineOutput(images=images) if return_dict else (images,)
