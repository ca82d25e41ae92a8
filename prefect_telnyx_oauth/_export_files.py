"""Where and how exported detail records are written: one file per window, page by page.

A window is written to `<name>.partial` and renamed to `<name>` only once its last page is in, so
a run killed mid-window leaves no half file under a final name, and a re-run rewrites the window
whole. CSV and JSON Lines use the standard library; Parquet needs pyarrow (the `parquet` extra);
a URL with a scheme (`s3://...`, `memory://...`) needs fsspec (the `fsspec` extra).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from telnyx_oauth.errors import ConfigurationError

EXTRA_COLUMN = "extra_fields"
"""CSV and Parquet column holding, as JSON, the fields a record has beyond the first page's."""


class Destination:
    """A local directory, or a directory behind an fsspec URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._fs: Any = None
        if "://" in url:
            try:
                import fsspec
            except ImportError as exc:
                msg = (
                    f"The destination {url!r} is a URL, which needs fsspec: "
                    "pip install 'prefect-telnyx-oauth[fsspec]', or pass a local directory."
                )
                raise ConfigurationError(msg) from exc
            try:
                self._fs, self._root = fsspec.core.url_to_fs(url)
            except (ImportError, ValueError) as exc:
                msg = f"fsspec cannot open the destination {url!r}: {exc}"
                raise ConfigurationError(msg) from exc
        else:
            self._root = str(Path(url).expanduser().absolute())

    def _path(self, relative: str) -> str:
        return f"{self._root.rstrip('/')}/{relative}"

    def location(self, relative: str) -> str:
        """The file's name as the user sees it: a local path, or the URL."""
        if self._fs is None:
            return self._path(relative)
        return f"{self.url.rstrip('/')}/{relative}"

    def check_writable(self) -> None:
        """Create the directory and write, then delete, a probe file; refuse if either fails."""
        probe = f".write-check-{uuid.uuid4().hex}"
        try:
            with self.open(probe) as stream:
                stream.write(b"ok")
            self.remove(probe)
        except OSError as exc:
            msg = (
                f"Cannot write to the destination {self.url!r} ({type(exc).__name__}: "
                f"{exc.strerror or exc}). Pass a directory this process may write to."
            )
            raise ConfigurationError(msg) from exc

    @contextlib.contextmanager
    def open(self, relative: str) -> Iterator[IO[bytes]]:
        """Open `relative` for writing (binary), creating its directory."""
        path = self._path(relative)
        if self._fs is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as stream:
                yield stream
        else:
            self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with self._fs.open(path, "wb") as stream:
                yield stream

    def commit(self, partial: str, final: str) -> None:
        """Rename `partial` to `final`, replacing it (atomic on a local disk)."""
        if self._fs is None:
            os.replace(self._path(partial), self._path(final))
        else:
            self._fs.mv(self._path(partial), self._path(final))

    def remove(self, relative: str) -> None:
        """Delete `relative` if it exists."""
        if self._fs is None:
            Path(self._path(relative)).unlink(missing_ok=True)
        elif self._fs.exists(self._path(relative)):
            self._fs.rm(self._path(relative))


class PageWriter(Protocol):
    """Writes records one page at a time; nothing is held between pages."""

    def write(self, records: Sequence[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


class _Columns:
    """The first page's fields, in order, then `extra_fields` for anything later pages add."""

    def __init__(self, first_page: Sequence[dict[str, Any]]) -> None:
        names: dict[str, None] = {}
        for record in first_page:
            names.update(dict.fromkeys(record))
        self.names = [*names, EXTRA_COLUMN]
        self._known = set(names)

    def row(self, record: dict[str, Any]) -> list[str | None]:
        extra = {k: v for k, v in record.items() if k not in self._known}
        cells = [_cell(record.get(name)) for name in self.names[:-1]]
        cells.append(json.dumps(extra, separators=(",", ":")) if extra else None)
        return cells


class CsvWriter:
    """RFC 4180 CSV (header from the first page), UTF-8; an empty cell is a null."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text)
        self._columns: _Columns | None = None

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        if self._columns is None:
            self._columns = _Columns(records)
            self._csv.writerow(self._columns.names)
        self._csv.writerows(self._columns.row(record) for record in records)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


class JsonLinesWriter:
    """One JSON object per line, exactly as Telnyx sent it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        self._stream.write(lines.encode())

    def close(self) -> None:
        self._stream.flush()


class ParquetWriter:
    """Parquet, one row group per page; every column a string (as in the CSV), so pages agree."""

    def __init__(self, stream: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self._pq = pa, pq
        self._stream = stream
        self._columns: _Columns | None = None
        self._writer: Any = None

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        pa = self._pa
        if self._columns is None:
            self._columns = _Columns(records)
            schema = pa.schema([(name, pa.string()) for name in self._columns.names])
            self._writer = self._pq.ParquetWriter(self._stream, schema)
        rows = [self._columns.row(record) for record in records]
        arrays = [pa.array(column, pa.string()) for column in zip(*rows, strict=True)]
        self._writer.write_table(pa.Table.from_arrays(arrays, names=self._columns.names))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


WRITERS: dict[str, Callable[[IO[bytes]], PageWriter]] = {
    "csv": CsvWriter,
    "jsonl": JsonLinesWriter,
    "parquet": ParquetWriter,
}
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}


def check_format_available(file_format: str) -> None:
    """Refuse Parquet when pyarrow is not installed."""
    if file_format != "parquet":
        return
    try:
        import pyarrow.parquet  # noqa: F401 - optional
    except ImportError as exc:
        msg = (
            "file_format 'parquet' needs pyarrow: pip install 'prefect-telnyx-oauth[parquet]', "
            "or use 'csv' or 'jsonl'."
        )
        raise ConfigurationError(msg) from exc
