"""``adagen generator`` and ``adagen features``: a generator and the evaluation's feature networks
trained on your own images (a folder or an ``.npz``), for ``--generator`` and ``--features``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adagen_agents.commands.common import (
    RESULTS_DIR,
    at_least,
    check_out,
    classes_line,
    flag,
    resumable_out,
    say_resume,
)
from adagen_agents.threads import choose_threads
from adagen_env.data.datasets import ImageDataset
from adagen_env.data.user_data import (
    HELDOUT_FRACTION,
    data_source,
    read_generator,
    save_features,
    save_generator,
    train_feature_networks,
)
from adagen_env.models.feature_networks import NETWORKS
from adagen_env.runtime.devices import check_device
from adagen_env.training.train_denoiser import STEPS as TRAIN_STEPS


def _channels(args: argparse.Namespace) -> int | None:
    return None if args.channels == "auto" else int(args.channels)


def run_generator(args: argparse.Namespace) -> None:
    from adagen_env.training.train_denoiser import train_denoiser

    at_least(args, 1, "train_steps")
    at_least(args, 0, "checkpoint_every")
    resume = None
    if args.resume is not None:  # the run's own settings win; the flags that differ are listed
        resume = read_generator(args.resume, args.data)
        if resume.training is None:
            raise ValueError(f"--resume {args.resume}: a finished generator ({resume.steps} steps); nothing to resume")
        ours = {"paradigm": resume.paradigm, "train_steps": resume.training["steps"], "seed": resume.training["seed"]}
        ignored = [
            f"{flag(k)} {getattr(args, k)} (checkpoint: {v})"
            for k, v in ours.items()
            if getattr(args, k) is not None and getattr(args, k) != v
        ]
        if ignored:
            print(
                f"adagen generator: resuming {args.resume}, whose settings win; ignoring {', '.join(ignored)}",
                file=sys.stderr,
            )
        vars(args).update(ours)
        source = resume.source
    elif args.paradigm is None or args.data is None:
        raise ValueError("give --paradigm and --data (or --resume a generator file of an unfinished run)")
    else:
        source = data_source(args.data, _channels(args))
    args.train_steps = args.train_steps or TRAIN_STEPS
    args.seed = args.seed or 0
    stem = f"{args.paradigm}-{Path(source.path).stem}"
    out = args.out = resumable_out(args, Path(RESULTS_DIR) / "generators" / f"{stem}.pt")
    check_out(args, suffixes=(".pt",), resumable=True)
    train = source.load("train")
    source.load("heldout")  # the split that evaluation needs is checked now, not after training
    if resume is not None:
        say_resume(args.resume, out)
    print(choose_threads(args.threads, watched=False))
    c, (h, w) = train.channels, train.image_shape
    print(
        f"{len(train)} training images of {c}x{h}x{w}, {train.num_classes} classes (held out: "
        f"{HELDOUT_FRACTION:.0%}); training a {args.paradigm} generator for {args.train_steps} steps"
        + ("" if resume is None else f", from step {resume.training['fit']['step']}")
    )
    print(classes_line(train.class_names))

    def checkpoint(model, training: dict) -> None:
        save_generator(model, out, args.paradigm, source, training["fit"]["step"], training)

    # it predicts the clean image: our MLP cannot pass many pixels through to a noise or velocity output
    try:
        model = train_denoiser(
            args.paradigm,
            train,
            args.train_steps,
            args.seed,
            device=check_device(args.device),
            target="clean",
            resume=None if resume is None else resume.training,
            on_checkpoint=checkpoint,
            checkpoint_every=args.checkpoint_every,
        )
    except KeyboardInterrupt as stop:
        done = read_generator(out).steps if out.exists() else 0
        saved = (
            f"wrote the generator so far to {out} (continue with --resume {out})" if out.exists() else "nothing saved"
        )
        raise type(stop)(f"interrupted after {done} of {args.train_steps} steps; {saved}") from None
    save_generator(model, out, args.paradigm, source, args.train_steps)
    print(f"wrote {out}; next: adagen train --generator {out}")


def network_scores(networks: dict, train: ImageDataset, heldout: ImageDataset) -> dict[str, float]:
    """What each network learnt, on held-out images: classifiers' accuracy, the MLP autoencoder's
    reconstruction error, and how much class structure the other label-free features hold."""
    from adagen_env.training.train_classifier import accuracy
    from adagen_env.training.train_encoder import reconstruction_error
    from adagen_env.training.train_feature_networks import nearest_neighbour_accuracy

    x, y = heldout.to_float(), heldout.label_tensor()
    scores = {}
    for name, network in networks.items():
        if NETWORKS[name].needs_labels:
            scores[f"{name}_accuracy_heldout"] = accuracy(network, x, y)
        elif name == "encoder":
            scores["reconstruction_mse_heldout"] = reconstruction_error(network, x)
        elif train.num_classes > 1:
            scores[f"{name}_nearest_neighbour_accuracy_heldout"] = nearest_neighbour_accuracy(network, train, heldout)
    return scores


def run_features(args: argparse.Namespace) -> None:
    at_least(args, 1, "classifier_epochs", "encoder_steps")
    source = data_source(args.data, _channels(args))
    out = Path(args.out) if args.out else Path(RESULTS_DIR) / "features" / f"{Path(source.path).stem}.pt"
    args.out = out
    check_out(args, suffixes=(".pt",))
    train, heldout = source.load("train"), source.load("heldout")
    print(choose_threads(args.threads, watched=False))
    shape = (train.channels, *train.image_shape)
    what = "five networks" if train.num_classes > 1 else "three label-free networks (one class: no classifiers)"
    print(f"training {what} on {len(train)} images of {'x'.join(map(str, shape))}")
    print(classes_line(train.class_names))
    try:
        networks = train_feature_networks(train, args.classifier_epochs, args.encoder_steps)
    except KeyboardInterrupt as stop:
        raise type(stop)(
            "interrupted; no features file written: networks trained part way would skew every "
            "evaluation that used them (run it again)"
        ) from None
    info = {"data": source.path, **network_scores(networks, train, heldout)}
    save_features(out, networks, shape, info)
    print(", ".join(f"{key} {value:.4f}" for key, value in info.items() if key != "data"))
    print(f"wrote {out}; next: adagen eval --generator G --features {out}")
