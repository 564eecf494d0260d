"""Is a policy sample-adaptive? The actions it chooses, and the static schedules distilled from them.

A policy that adapts to each sample chooses different parameters for different samples at the
same step. Playing instead, at every step, the mean of its actions over samples (or over the
samples of each class) gives a schedule that no longer looks at the sample; if that schedule
does as well, the policy has found a better static schedule rather than adapted.
"""

from __future__ import annotations

import torch

from adagen_env.envs.core import ScheduleCore
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.generators import Act
from adagen_env.processes.base import Process


@torch.no_grad()
def record_actions(
    process: Process, act: Act, labels: torch.Tensor, seed: int, spec: EpisodeSpec | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The actions (T, B, P), clipped as the env clips them, and the parameter values (T, B, P) that
    ``act`` chooses for one batch of ``labels`` with noise ``seed``, in the episode ``spec`` it was
    trained with (as :func:`~adagen_env.evaluation.generators.policy_generator` samples it; the
    values are those the generator got, after smoothing and around the baseline)."""
    spec = EpisodeSpec.build(spec).replace(reward=None)
    core = ScheduleCore(process, len(labels), spec)
    obs = core.reset(labels, seed)
    actions, values = [], []
    for _ in range(core.num_steps):
        action = core.check_actions(act(obs))
        obs, _, _, parameters = core.step(action)
        actions.append(action)
        values.append(torch.stack([parameters[p.name].cpu().float() for p in process.parameters], dim=-1))
    return torch.stack(actions), torch.stack(values)


def mean_action_policy(actions: torch.Tensor, labels: torch.Tensor | None = None, num_classes: int = 0) -> Act:
    """A policy that plays at step t the mean of ``actions[t]`` (T, B, P) over the samples, or, given
    their ``labels``, over the samples of the asked class: a schedule blind to everything but the step
    (and the class)."""
    num_steps = len(actions)
    if labels is None:
        table = actions.mean(dim=1, keepdim=True)  # (T, 1, P)
    else:
        counts = torch.bincount(labels, minlength=num_classes)
        if (counts == 0).any():
            raise ValueError(
                f"every class needs recorded samples; none for {torch.nonzero(counts == 0)[:, 0].tolist()}"
            )
        one_hot = torch.nn.functional.one_hot(labels, num_classes).to(actions)  # (B, C)
        table = torch.einsum("tbp,bc->tcp", actions, one_hot) / counts[None, :, None]  # (T, C, P)

    def act(observation: dict[str, torch.Tensor]) -> torch.Tensor:
        t = round(observation["progress"][0, 0].item() * num_steps)  # the batch steps together
        label = observation["label"].cpu()
        return table[t, 0].expand(len(label), -1) if labels is None else table[t][label]

    return act
