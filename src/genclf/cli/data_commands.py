"""``genclf datasets``: list the data schemes, or describe one dataset. Light: listing imports no torch."""

from __future__ import annotations

import argparse

from genclf.cli.common import Command


def datasets_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="dataset spec to describe (without it: list the data schemes)")
    p.add_argument("--image-size", type=int, help="resize images to N x N")
    p.add_argument("--channels", type=int, choices=(1, 3), help="convert images to 1 (grey) or 3 (RGB) channels")


def cmd_datasets(args: argparse.Namespace) -> None:
    from genclf.data.datasets import SCHEMES, load_dataset

    if args.spec is None:
        for name in SCHEMES.names():
            scheme = SCHEMES.get(name)
            print(f"{name + (':PATH' if scheme.needs_argument else ''):<14} {scheme.help}")
        return
    planned = None
    if args.image_size is None and args.channels is None:  # describe the data as train and run will load it
        from genclf.run import plan

        found = plan.survey(args.spec)
        data, planned = found.data, found
    else:
        data = load_dataset(args.spec, args.image_size, args.channels)
    sets = {name: s for name, s in (("train", data.train), ("test", data.test)) if s is not None}
    print(
        f"{data.name}: {data.train.num_classes} classes, "
        f"images {data.train.channels}x{data.train.image_size}x{data.train.image_size} uint8"
        + (
            f" (as 'genclf run --data' and a no-flag 'genclf train' load it: native ~{planned.native_size} px"
            f"{'; colour photos: planned on pretrained features' if planned.photos else ''})"
            if planned is not None
            else ""
        )
    )
    counts = {name: s.class_counts() for name, s in sets.items()}
    width = max(len(str(n)) for n in data.train.class_names)
    print(" " * width + "".join(f"{name:>9}" for name in sets))
    for i, class_name in enumerate(data.train.class_names):
        print(f"{class_name:<{width}}" + "".join(f"{counts[name][i]:>9}" for name in sets))
    print(
        "sizes: "
        + ", ".join(f"{name} {len(s)}" for name, s in sets.items())
        + ("" if data.test is not None else " (no test split: genclf holds out a stratified 20% by default)")
    )
    for note in data.notes:
        print(f"note: {note}")


COMMANDS = [
    Command(
        "datasets",
        "Without SPEC: list the data schemes. With SPEC: class counts, image shape, split sizes.",
        datasets_arguments,
        cmd_datasets,
    ),
]
