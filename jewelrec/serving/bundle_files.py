"""Which files a bundle may hold, and how they are listed and hashed: the allow-list the manifest in ``config.json``
is checked against (:func:`jewelrec.serving.bundle.verify_files`), the Hub download metadata that is not bundle
content, and where a bundle's files may really live (the bundle, or its Hub cache's blobs).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from pathlib import Path

INDEX_NAME = "index.faiss"
# Files a bundle may hold. Everything but config.json itself is covered by the manifest, except the
# model card and the .gitattributes the Hub adds to every repo (both are rewritten on push).
ALLOWED_PATTERNS = (
    "config.json",
    "items.parquet",
    "embeddings.safetensors",
    "clusters.safetensors",
    INDEX_NAME,
    "encoder/config.json",
    "encoder/model.safetensors",
    "encoder/README.md",  # the model card PyTorchModelHubMixin / save_pretrained write beside the weights
    "encoder/tokenizer.json",  # catalog CLIP: its tokenizer and image processor, as save_pretrained writes them
    "encoder/tokenizer_config.json",
    "encoder/special_tokens_map.json",
    "encoder/preprocessor_config.json",
    "encoder/processor_config.json",
    "encoder/generation_config.json",
    "encoder/training.json",
    "encoder/vision/config.json",  # catalog CLIP: its image tower (ResNetModel) and text tower, save_pretrained
    "encoder/vision/model.safetensors",
    "encoder/text/config.json",
    "encoder/text/model.safetensors",
    "depict/config.json",
    "depict/model.safetensors",
    "depict/README.md",
    "report/*.json",
    "report/*.png",
    "report/*.csv",
    "report/*.md",
    "README.md",
    ".gitattributes",
)
UNHASHED = {"config.json", "README.md", ".gitattributes"}
REQUIRED = ("items.parquet", "embeddings.safetensors", "clusters.safetensors")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def umask() -> int:
    """This process's umask (Linux reports it; elsewhere it is read by setting and restoring it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share_as_umask(directory: Path, files: list[str]) -> None:
    """Give the ``*.safetensors`` among ``files`` the mode any new file gets (0644 under umask 022): safetensors
    0.8 writes them owner-only (0600), so a bundle fitted by root or CI could not be loaded by the service user
    that serves it, while its config.json and items.parquet could. Links (a Hub cache snapshot) are left alone."""
    mode = 0o666 & ~umask()
    for name in files:
        path = directory / name
        if name.endswith(".safetensors") and not path.is_symlink() and (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)


def is_allowed(relpath: str) -> bool:
    return any(fnmatch.fnmatchcase(relpath, pattern) and relpath.count("/") == pattern.count("/")
               for pattern in ALLOWED_PATTERNS)


HUB_METADATA = ".cache/huggingface/"  # what huggingface_hub writes beside a local_dir download: not bundle content


def list_files(directory: Path) -> list[str]:
    """Relative POSIX paths of every file (and symlink) under ``directory``, huggingface_hub's own download
    metadata (``.cache/huggingface/``) excluded — anything else in ``.cache/`` counts like any other file."""
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if (p.is_file() or p.is_symlink()) and not p.relative_to(directory).as_posix().startswith(HUB_METADATA)
    )


def content_roots(directory: Path) -> list[Path]:
    """Where a bundle's files may really live: the bundle itself, and — for a huggingface_hub cache snapshot
    (``…/models--user--name/snapshots/<sha>/``, whose files are links to ``../../blobs/<hash>``) — that repo's
    ``blobs/`` folder. A link anywhere else is refused."""
    roots = [directory.resolve()]
    if directory.parent.name == "snapshots":
        roots.append((directory.parent.parent / "blobs").resolve())
    return roots
