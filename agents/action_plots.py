"""What a policy chose: its parameters against the step, for many samples and per class.

The picture behind "is it sample-adaptive?": a policy that adapts spreads its parameters over
the samples at each step; one that has found a better static schedule draws one line. Drawn
beside the hand-designed and the best static schedule. Used by ``adagen actions`` and
``benchmarks/adaptivity.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from adagen_env.processes.base import Process
from adagen_env.processes.sampling import hand_designed_schedule
from adagen_env.runtime.files import atomic_write

MAX_LINES = 200  # sample lines drawn (more only darken the plot)
MAX_LEGEND_CLASSES = 20  # more class means than this get no legend (it would not fit)


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
    class_names: Sequence[str] | None = None,
) -> Path:
    """One panel per step parameter under ``title``: up to ``MAX_LINES`` samples (grey), each class's
    mean (colour, named in the legend by ``class_names``, default "class 0", ...), the hand-designed
    schedule (dashed) and ``best_static`` (T, P) if given (dotted); writes ``out``."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = len(values)
    names = [p.name for p in process.parameters]
    classes = list(class_names) if class_names is not None else [f"class {c}" for c in range(process.num_classes)]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names) + 1.2, 3.8), squeeze=False)
    x = torch.arange(1, steps + 1)
    hand = hand_designed_schedule(process, steps, 1)[:, 0]
    means = []
    for i, (ax, name) in enumerate(zip(axes[0], names)):
        ax.plot(x, values[:, :MAX_LINES, i], color="grey", alpha=0.08, linewidth=0.8)
        means = [
            ax.plot(x, values[:, labels == c, i].mean(dim=1), linewidth=1, alpha=0.8, label=classes[c])[0]
            for c in range(process.num_classes)
            if (labels == c).any()
        ]
        static = ax.plot(x, hand[:, i], "k--", linewidth=2, label="hand-designed")
        if best_static is not None:
            static += ax.plot(x, best_static[:, i], "r:", linewidth=2, label="best static")
        ax.legend(handles=static, fontsize=7)
        ax.set(title=name, xlabel="step")
    fig.suptitle(title, fontsize=10)
    if len(means) <= MAX_LEGEND_CLASSES:  # one legend for the panels: the colours are the classes everywhere
        fig.legend(handles=means, loc="center right", fontsize=7, title="class means")
    fig.tight_layout(rect=(0, 0, 1 - 1.2 / fig.get_figwidth(), 1))
    out = Path(out)
    atomic_write(out, lambda file: fig.savefig(file, dpi=90, format="png"))
    plt.close(fig)
    return out
