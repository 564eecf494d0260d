"""What a policy chose: its parameters against the step, for many samples and per class.

The picture behind "is it sample-adaptive?": a policy that adapts spreads its parameters over
the samples at each step; one that has found a better static schedule draws one line. Drawn
beside the hand-designed and the best static schedule. Used by ``adagen actions`` and
``benchmarks/adaptivity.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from adagen_env.processes.base import Process
from adagen_env.processes.sampling import hand_designed_schedule
from adagen_env.runtime.files import atomic_write

MAX_LINES = 200  # sample lines drawn (more only darken the plot)


def require_matplotlib() -> None:
    """Fail before any work when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("drawing the actions needs matplotlib: pip install matplotlib") from error


def action_spread(values: torch.Tensor, labels: torch.Tensor, process: Process) -> dict[str, dict[str, float]]:
    """Per parameter, the spread of ``values`` (T, B, P) over samples (std at a step, mean over the
    steps), overall and within a class (mean over classes): 0 within a class means class-adaptive only."""
    over = values.std(dim=1).mean(dim=0)
    present = [c for c in range(process.num_classes) if (labels == c).sum() > 1]
    within = torch.stack([values[:, labels == c].std(dim=1) for c in present]).mean(dim=(0, 1))
    return {
        p.name: {"over_samples": over[i].item(), "within_class": within[i].item()}
        for i, p in enumerate(process.parameters)
    }


def plot_actions(
    values: torch.Tensor,
    labels: torch.Tensor,
    process: Process,
    title: str,
    out: str | Path,
    best_static: torch.Tensor | None = None,
) -> Path:
    """One panel per step parameter: up to ``MAX_LINES`` samples (grey), each class's mean (colour),
    the hand-designed schedule (dashed) and ``best_static`` (T, P) if given (dotted); writes ``out``."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = len(values)
    names = [p.name for p in process.parameters]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    x = torch.arange(1, steps + 1)
    hand = hand_designed_schedule(process, steps, 1)[:, 0]
    for i, (ax, name) in enumerate(zip(axes[0], names)):
        ax.plot(x, values[:, :MAX_LINES, i], color="grey", alpha=0.08, linewidth=0.8)
        for c in range(process.num_classes):
            if (labels == c).any():
                ax.plot(x, values[:, labels == c, i].mean(dim=1), linewidth=1, alpha=0.8)
        ax.plot(x, hand[:, i], "k--", linewidth=2, label="hand-designed")
        if best_static is not None:
            ax.plot(x, best_static[:, i], "r:", linewidth=2, label="best static")
        ax.set(title=f"{title}: {name}", xlabel="step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    atomic_write(out, lambda file: fig.savefig(file, dpi=90, format="png"))
    plt.close(fig)
    return out
