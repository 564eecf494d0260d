"""``adagen generator`` and ``adagen features``: a generator and the evaluation's feature networks
trained on your own images (a folder or an ``.npz``), for ``--generator`` and ``--features``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adagen_agents.commands.common import RESULTS_DIR, at_least
from adagen_agents.files import check_writable_file
from adagen_env.data.user_data import (
    HELDOUT_FRACTION,
    data_source,
    save_features,
    save_generator,
    train_feature_networks,
)
from adagen_env.runtime.devices import check_device


def _channels(args: argparse.Namespace) -> int | None:
    return None if args.channels == "auto" else int(args.channels)


def run_generator(args: argparse.Namespace) -> None:
    from adagen_env.training.train_denoiser import train_denoiser

    at_least(args, 1, "train_steps")
    source = data_source(args.data, _channels(args))
    out = (
        Path(args.out)
        if args.out
        else Path(RESULTS_DIR) / "generators" / f"{args.paradigm}-{Path(source.path).stem}.pt"
    )
    check_writable_file(out, "--out")
    train = source.load("train")
    c, (h, w) = train.channels, train.image_shape
    print(
        f"{len(train)} training images of {c}x{h}x{w}, {train.num_classes} classes (held out: "
        f"{HELDOUT_FRACTION:.0%}); training a {args.paradigm} generator for {args.train_steps} steps"
    )
    # it predicts the clean image: our MLP cannot pass many pixels through to a noise or velocity output
    model, taken = train_denoiser(
        args.paradigm, train, args.train_steps, args.seed, device=check_device(args.device), target="clean"
    )
    save_generator(model, out, args.paradigm, source, taken)
    if taken < args.train_steps:
        print(
            f"adagen generator: interrupted after {taken} of {args.train_steps} steps; "
            f"wrote the generator so far to {out}",
            file=sys.stderr,
        )
        raise SystemExit(130)
    print(f"wrote {out}; next: adagen train --generator {out}")


def run_features(args: argparse.Namespace) -> None:
    from adagen_env.training.train_classifier import accuracy
    from adagen_env.training.train_encoder import reconstruction_error

    at_least(args, 1, "classifier_epochs", "encoder_steps")
    source = data_source(args.data, _channels(args))
    out = Path(args.out) if args.out else Path(RESULTS_DIR) / "features" / f"{Path(source.path).stem}.pt"
    check_writable_file(out, "--out")
    train, heldout = source.load("train"), source.load("heldout")
    shape = (train.channels, *train.image_shape)
    what = "a classifier and an autoencoder" if train.num_classes > 1 else "an autoencoder (one class: no classifier)"
    print(f"training {what} on {len(train)} images of {'x'.join(map(str, shape))}")
    classifier, encoder = train_feature_networks(train, args.classifier_epochs, args.encoder_steps)
    info = {"data": source.path, "reconstruction_mse_heldout": reconstruction_error(encoder, heldout.to_float())}
    if classifier is not None:
        info["accuracy_heldout"] = accuracy(classifier, heldout.to_float(), heldout.label_tensor())
    save_features(out, classifier, encoder, shape, info)
    print(", ".join(f"{key} {value:.4f}" for key, value in info.items() if key != "data"))
    print(f"wrote {out}; next: adagen eval --generator G --features {out}")
