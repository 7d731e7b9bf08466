"""The pictures a grid cell draws of the generators and colorizers it trained: sample grids and grey |
colorized | original strips, with their run-folder paths (listed in artifacts.json by the run)."""

from __future__ import annotations

from genclf.data import Split
from genclf.run.folder import RunFolder, cell_tag
from genclf.strategies import Context


def artifact_path(folder: RunFolder, key: str, budget, seed: int) -> str:
    kind = "colorized" if key.startswith("colorizer_") else "samples"
    return str(folder.artifact(f"{kind}_{key}_{cell_tag(budget, seed)}").relative_to(folder.root))


def draw_generators(
    context: Context, split: Split, folder: RunFolder, budget, seed: int, owned: set[str]
) -> list[dict]:
    """Sample grids of the generators and grey | colorized | original strips (on test images) of the
    colorizers in ``owned`` that ``context`` holds; returns their artifact entries."""
    from genclf.pipelines.colorize import per_class_sample
    from genclf.reporting.plots import colorization_strip, sample_grid

    tag, added = cell_tag(budget, seed), []
    for key, trained in {**context.generators(), **context.colorizers()}.items():
        if key not in owned:
            continue
        relative = artifact_path(folder, key, budget, seed)
        path = folder.root / relative
        if key.startswith("colorizer_"):
            name = key.removeprefix("colorizer_")
            shown = split.test.images[per_class_sample(split.test)]
            colorization_strip(shown, trained.colorize(shown), path, f"{name} on test images ({tag})")
            caption = f"colorized: {name}, {tag}"
        else:
            samples = trained.sample_per_class(8, seed=0)
            sample_grid(samples.images, samples.labels, split.class_names, path, title=f"{key} ({tag})")
            caption = f"generated samples: {key}, {tag}"
        added.append({"path": relative, "caption": caption})
    return added
