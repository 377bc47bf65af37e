"""Artifact paths that may be local folders or pyarrow-filesystem URIs (s3://, gs://).

On a cluster nothing may assume a shared local disk, so every artifact path goes
through here: remote folders are copied into a local cache before use, and uploads
write the commit marker (an adapter's manifest) last.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def is_uri(path: str | Path) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def join(root: str | Path, *parts: str) -> str:
    return "/".join([str(root).rstrip("/"), *parts]) if is_uri(root) else str(Path(root, *parts))


def local_path(path: str | Path) -> Path:
    """A local folder holding the same files as ``path`` (downloaded once per URI)."""
    if not is_uri(path):
        return Path(str(path).removeprefix("file://")).expanduser().resolve()
    from pyarrow import fs

    from querytune.platform.models import cache_dir

    target = cache_dir().parent / "remote" / hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if not target.is_dir():
        tmp = target.with_name(target.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        fs.copy_files(str(path), str(tmp))
        tmp.rename(target)
    return target


def download(path: str, local: Path) -> None:
    from pyarrow import fs

    fs.copy_files(str(path), str(local))


def upload(local: Path, dest: str) -> None:
    from pyarrow import fs

    fs.copy_files(str(local), dest)


def exists(path: str) -> bool:
    if not is_uri(path):
        return Path(path).exists()
    from pyarrow import fs

    filesystem, inner = fs.FileSystem.from_uri(path)
    return filesystem.get_file_info(inner).type != fs.FileType.NotFound


def list_dirs(root: str) -> list[str]:
    """Names of the immediate sub-folders of ``root`` (empty if it does not exist)."""
    if not is_uri(root):
        base = Path(root)
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    from pyarrow import fs

    filesystem, inner = fs.FileSystem.from_uri(root)
    infos = filesystem.get_file_info(fs.FileSelector(inner, allow_not_found=True))
    return sorted(Path(i.path).name for i in infos if i.type == fs.FileType.Directory)


def write_text(path: str, text: str) -> None:
    if not is_uri(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        return
    from pyarrow import fs

    filesystem, inner = fs.FileSystem.from_uri(path)
    with filesystem.open_output_stream(inner) as stream:
        stream.write(text.encode())


def read_text(path: str) -> str:
    if not is_uri(path):
        return Path(path).read_text()
    from pyarrow import fs

    filesystem, inner = fs.FileSystem.from_uri(path)
    with filesystem.open_input_stream(inner) as stream:
        return stream.read().decode()
