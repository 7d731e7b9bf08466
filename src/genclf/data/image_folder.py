"""Folders of images in class sub-folders (``folder:DIR``), decoded in parallel and cached.

Layout: ``DIR/<class>/*`` or ``DIR/train/<class>/*`` + ``DIR/test/<class>/*``, and optionally
``DIR/unlabeled/*`` (or ``DIR/train/unlabeled/*``): images without labels, which join the unlabeled pool of
semi-supervised strategies and pseudo-labelled generators (so no class may be called ``unlabeled``). Images
are recognised by content, not by extension. Policy for files that do not decode:

* a file whose extension is not an image extension and whose content is not an image (``notes.txt``,
  ``Thumbs.db``) is skipped with a warning: stray files are common in real folders and are not data;
* a file that claims to be an image (image extension, or an image header) but does not decode, is
  truncated, or is larger than the pixel limit is an error naming the file: silently dropping a
  training example would change the data behind the user's back.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from genclf.data.images import ImageSet, LoadedData
from genclf.errors import DataError
from genclf.files import atomic_write

DEFAULT_IMAGE_SIZE = 32
UNLABELED_FOLDER = "unlabeled"
FOLDER_RESERVED = (UNLABELED_FOLDER, "train", "test")  # folder names that are not classes to folder:
GENCLF_FILES = ("environment.json",)  # what genclf writes into its output folders besides images


def max_pixels() -> int:
    """The pixel limit of one image: ``GENCLF_MAX_PIXELS`` (default 64 M)."""
    text = os.environ.get("GENCLF_MAX_PIXELS", "64000000")
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise DataError("GENCLF_MAX_PIXELS", f"expected a positive integer (pixels), got {text!r}")
    ceiling = pixel_ceiling()
    if value > ceiling:
        raise DataError(
            "GENCLF_MAX_PIXELS",
            f"{value:,} pixels would need about {value * BYTES_PER_PIXEL / 2**30:.0f} GiB to decode one image; "
            f"this machine allows at most {ceiling:,}",
        )
    return value


BYTES_PER_PIXEL = 12  # RGB at one byte a channel, and the few working copies resizing makes


def pixel_ceiling() -> int:
    """The largest pixel limit whose decoded image fits in half this machine's memory (PIL's 2^31 at most)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: PIL's own bound only
        memory = 2**31 * BYTES_PER_PIXEL * 2
    return int(min(2**31 - 1, memory // 2 // BYTES_PER_PIXEL))


def _high_depth_to_8bit(img: Image.Image) -> Image.Image:
    """16- and 32-bit grey images ('I;16*', 'I', 'F') scaled to 8 bits, not clipped: 16-bit by 1/257, 32-bit
    integers and floats by their own range (floats within [0, 1] by 255)."""
    array = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16"):
        scaled = array / 257.0
    elif img.mode == "F" and array.size and array.min() >= 0 and array.max() <= 1:
        scaled = array * 255.0
    else:
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if low >= 0 and high <= 255:
            scaled = array
        elif low >= 0 and high <= 65535:
            scaled = array / 257.0
        else:
            scaled = (array - low) / max(high - low, 1e-12) * 255.0
    return Image.fromarray(np.clip(np.round(np.nan_to_num(scaled)), 0, 255).astype(np.uint8), mode="L")


IMAGE_EXTENSIONS = {
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
}
PARALLEL_THRESHOLD = 2000
CACHE_VERSION = 2


def cache_dir() -> Path:
    return Path(os.environ.get("GENCLF_CACHE_DIR", Path.home() / ".cache" / "genclf")) / "folders"


def decode_image(path: str, size: int, mode: str) -> tuple[np.ndarray | None, str, str]:
    """Decode one file to a ``size`` x ``size`` uint8 array in ``mode`` ('L' or 'RGB').

    Returns (array, source_mode, problem); problem is '' on success, 'skip: ...' for a non-image
    file, or 'error: ...' for a broken image.
    """
    Image.MAX_IMAGE_PIXELS = None  # checked below, before decoding, with our own message
    limit = max_pixels()
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > limit:
                return (
                    None,
                    "",
                    f"error: image of {width}x{height} pixels exceeds the limit of {limit} (set GENCLF_MAX_PIXELS to allow it)",
                )
            source_mode = img.mode
            # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale: bounded memory for huge photos.
            img.draft(mode, (size, size))
            if img.mode.startswith("I") or img.mode == "F":  # animated files: the first frame, as opened
                img = _high_depth_to_8bit(img)
            img = img.convert(mode)
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
            array = np.array(img, dtype=np.uint8)
    except UnidentifiedImageError:
        if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
            return None, "", "error: corrupt image (content is not a recognised image format)"
        return None, "", "skip: not an image"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return None, "", f"error: corrupt or truncated image ({exc})"
    if array.ndim == 2:
        array = array[:, :, None]
    return array, source_mode, ""


def _decode_chunk(args: tuple[list[str], int, str]) -> list[tuple[np.ndarray | None, str, str]]:
    paths, size, mode = args
    return [decode_image(p, size, mode) for p in paths]


def _scan(folder: str, found: list[tuple[str, int, int]], ancestors: tuple[tuple[int, int], ...] = ()) -> None:
    """Collect (path, size, mtime_ns) of the visible files under ``folder``; DirEntry caches the stat."""
    stat = os.stat(folder)
    here = (stat.st_dev, stat.st_ino)
    if here in ancestors:
        raise DataError(folder, "symbolic link loop (a link to one of its own parent folders)")
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(folder, f"cannot list the folder ({exc.strerror or exc})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except OSError:  # e.g. too many levels of symbolic links
            raise DataError(entry.path, "unreadable entry (symbolic link loop?)") from None
        if is_dir:
            _scan(entry.path, found, (*ancestors, here))
        elif is_file:
            stat_entry = entry.stat()
            found.append((entry.path, stat_entry.st_size, stat_entry.st_mtime_ns))


def _list_split(root: Path) -> tuple[list[str], list[tuple[str, int, int]], list[int]]:
    classes = sorted(
        d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != UNLABELED_FOLDER
    )
    files: list[tuple[str, int, int]] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        members: list[tuple[str, int, int]] = []
        _scan(str(root / name), members)
        if not members:
            raise DataError(root / name, "class folder is empty (expected at least one image)")
        files.extend(members)
        labels.extend([index] * len(members))
    return classes, files, labels


def _cache_key(root: Path, files: list[tuple[str, int, int]], size: int, channels: int | None) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{root.resolve()}|{size}|{channels}|".encode())
    listing = "\n".join(f"{path}|{nbytes}|{mtime}" for path, nbytes, mtime in files)
    digest.update(listing.encode("utf-8", "surrogateescape"))  # names need not be valid UTF-8
    return digest.hexdigest()[:32]


def _decode_all(names: list[str], size: int, mode: str, quiet: bool) -> list[tuple[np.ndarray | None, str, str]]:
    workers = min(os.cpu_count() or 1, 8)
    if len(names) < PARALLEL_THRESHOLD or workers < 2:
        iterator = (decode_image(p, size, mode) for p in names)
        return list(tqdm(iterator, total=len(names), desc="decode", unit="img", disable=quiet or None))
    chunk = 512
    jobs = [(names[i : i + chunk], size, mode) for i in range(0, len(names), chunk)]
    results: list[tuple[np.ndarray | None, str, str]] = []
    with (
        ProcessPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(names), desc="decode", unit="img", disable=quiet or None) as bar,
    ):
        for part in pool.map(_decode_chunk, jobs):
            results.extend(part)
            bar.update(len(part))
    return results


def _load_files(files: list[str], labels: list[int], size: int, channels: int | None, quiet: bool):
    mode = "L" if channels == 1 else "RGB"
    decoded = _decode_all(files, size, mode, quiet)
    arrays, kept_labels, kept_paths, skipped, grey = [], [], [], [], True
    for path, label, (array, source_mode, problem) in zip(files, labels, decoded):
        if problem.startswith("error"):
            raise DataError(path, problem.removeprefix("error: "))
        if problem:
            skipped.append(path)
            continue
        arrays.append(array)
        kept_labels.append(label)
        kept_paths.append(path)
        grey = grey and (source_mode in ("1", "L", "LA", "I", "F") or source_mode.startswith("I;16"))
    images = np.stack(arrays) if arrays else np.zeros((0, size, size, 1 if mode == "L" else 3), np.uint8)
    if channels is None and grey and images.shape[-1] == 3:
        images = images[..., :1]  # every source image was grey: keep one channel
    return images, np.asarray(kept_labels, np.int64), kept_paths, skipped


def _warn_skipped(skipped: list[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        warnings.warn(f"skipped {len(skipped)} non-image file(s): {shown}", stacklevel=3)


def load(argument: str, image_size: int | None = None, channels: int | None = None, quiet: bool = False) -> LoadedData:
    root = Path(argument).expanduser()
    if not root.is_dir():
        raise DataError(root, "folder not found (expected a folder of class sub-folders)")
    size = image_size or DEFAULT_IMAGE_SIZE
    max_pixels()  # a bad GENCLF_MAX_PIXELS is an error before any decoding
    has_splits = (root / "train").is_dir() and (root / "test").is_dir()
    split_roots = {"train": root / "train", "test": root / "test"} if has_splits else {"train": root}
    listed = {name: _list_split(path) for name, path in split_roots.items()}
    classes = listed["train"][0]
    if not classes:
        raise DataError(root, "no class sub-folders found (expected DIR/<class>/<image files>)")
    if has_splits and listed["test"][0] != classes:
        raise DataError(root / "test", f"class folders {listed['test'][0]} differ from train's {classes}")
    pool = split_roots["train"] / UNLABELED_FOLDER
    if pool.is_dir():  # decoded and cached with the labeled images, labels -1
        members: list[tuple[str, int, int]] = []
        _scan(str(pool), members)
        listed["unlabeled"] = ([], members, [-1] * len(members))
    all_files = [f[0] for part in listed.values() for f in part[1]]
    stats = [f for part in listed.values() for f in part[1]]
    all_labels = [label for part in listed.values() for label in part[2]]
    split_of = np.concatenate([np.full(len(part[1]), i) for i, part in enumerate(listed.values())])
    cache_file = cache_dir() / f"{_cache_key(root, stats, size, channels)}.npz"
    cached = _read_cache(cache_file)
    if cached is not None:
        images, labels, split_of, paths, skipped = cached
    else:
        images, labels, paths, skipped = _load_files(all_files, all_labels, size, channels, quiet)
        kept = set(paths)
        split_of = split_of[[f in kept for f in all_files]]
        try:
            atomic_write(cache_file, lambda tmp: _save_cache(tmp, images, labels, split_of, paths, skipped))
        except OSError as exc:
            warnings.warn(f"could not write the decoded-image cache {cache_file}: {exc}", stacklevel=2)
    _warn_skipped(skipped)
    tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    labels_t = torch.from_numpy(labels)
    parts = {}
    for index, name in enumerate(listed):
        mask = torch.from_numpy(split_of == index)
        part_paths = [p for p, m in zip(paths, mask.tolist()) if m]
        parts[name] = ImageSet(tensor[mask], labels_t[mask], list(classes), part_paths)
    if len(parts["train"]) == 0:
        raise DataError(root, "no images found in the class folders")
    empty = [name for name, count in zip(classes, parts["train"].class_counts()) if count == 0]
    if empty:
        where = root / "train" if has_splits else root
        raise DataError(where / empty[0], "class folder holds no images (only non-image files, or nothing)")
    if "unlabeled" in parts and not len(parts["unlabeled"]):
        raise DataError(pool, "no image files found")
    return LoadedData(root.name, parts["train"], parts.get("test"), unlabeled=parts.get("unlabeled"))


def _read_cache(path: Path):
    """The cached arrays, or None when there is no cache or it is unreadable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cached:
            return (
                cached["images"],
                cached["labels"],
                cached["split"],
                cached["paths"].tolist(),
                cached["skipped"].tolist(),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        warnings.warn(f"the decoded-image cache {path} is unreadable; rebuilding it", stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def _save_cache(tmp: Path, images, labels, split_of, paths, skipped) -> None:
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            images=images,
            labels=labels,
            split=split_of,
            paths=np.asarray(paths, dtype=str),
            skipped=np.asarray(skipped, dtype=str),
        )


def read_image_paths(target: Path) -> list[Path]:
    """Files under ``target`` (a file or a folder, searched recursively), hidden files left out."""
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise DataError(target, "file or folder not found")
    return sorted(f for f in target.rglob("*") if f.is_file() and not f.name.startswith("."))


def read_images(target: Path, size: int, mode: str) -> tuple[torch.Tensor, list[Path]]:
    """Decode a file, or every image under a folder, to uint8 (N, C, size, size) in ``mode`` ('L' or 'RGB').

    Non-image files inside a folder are skipped with a warning; a named file that is not an image, a
    broken image, or a folder without images is a DataError naming it.
    """
    target = Path(target)
    arrays, kept, skipped = [], [], []
    for path in read_image_paths(target):
        array, _, problem = decode_image(str(path), size, mode)
        if problem.startswith("error"):
            raise DataError(path, problem.removeprefix("error: "))
        if problem:
            if target.is_file():
                raise DataError(path, "not an image file (expected PNG, JPEG, BMP, GIF, TIFF or WebP)")
            if path.name not in GENCLF_FILES:  # genclf's own records beside its images are no surprise
                skipped.append(path)
            continue
        arrays.append(torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1))
        kept.append(path)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} non-image file(s), e.g. {skipped[0]}", stacklevel=2)
    if not arrays:
        raise DataError(target, "no image files found")
    return torch.stack(arrays), kept
