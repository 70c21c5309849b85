"""Errors raised by :mod:`msg.datasets`, each naming the files and the folder involved."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not under the data root and could not be downloaded."""

    def __init__(self, name: str, folder: Path, missing: Sequence[str], reason: str = "") -> None:
        self.name, self.folder, self.missing = name, Path(folder), list(missing)
        files = ", ".join(self.missing)
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"dataset {name!r}: missing file(s) {files} in folder {self.folder}{why}. Put the files there "
            f"(or pass root=..., or set MSG_DATA to the folder that holds {self.folder.name}/)."
        )


class CorruptDatasetError(ValueError):
    """A dataset file exists but cannot be read (truncated download, wrong format)."""

    def __init__(self, name: str, folder: Path, cause: BaseException) -> None:
        self.name, self.folder = name, Path(folder)
        super().__init__(
            f"dataset {name!r}: the files in {self.folder} could not be read "
            f"({type(cause).__name__}: {cause}). A file is probably truncated or corrupt: replace it with a fresh "
            "copy. Nothing was deleted."
        )
