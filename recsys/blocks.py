"""The blocks of lines a read parses: its files one after the other, the small ones sharing blocks.

:func:`family_blocks` runs in the reader thread (:func:`recsys.files.in_background`): it opens each
file, finds the formats of its first lines (:func:`recsys.detection.start_formats`, the format the
file before in its family started with checked first), cuts it into blocks of whole lines and
tokenizes each block with its first format. A file's blocks are its own but for its short last
one, which the next files join while they fit and start in the same format: a family of small
rotated files is parsed a few blocks at a time, not a file at a time. Each block says which lines
are whose (:class:`Segment`); each file keeps its own record, formats and accounting
(:class:`LogFile`, :class:`Formats`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator

from .accounting import Accounting
from .detection import recorded_format, start_formats
from .errors import RecsysError
from .files import Buffers, Chunk, Prefixed, family_of, open_log, read_head
from .formats import LogFormat
from .tokenizer import Tokens, tokenize

__all__ = ["FileBlock", "Formats", "LogFile", "Segment", "family_blocks"]

log = logging.getLogger(__name__)


class LogFile:
    """One file of a read: its record and formats (``reader``) and the accounting it counts into."""

    def __init__(self, index: int, path: str, accounting: Accounting, first_line: int, record: dict | None,
                 *, detect: bool) -> None:
        self.index, self.path, self.accounting = index, path, accounting
        self.reader = Formats(path, first_line, record, detect=detect)
        self.family = family_of(path)
        self.first: LogFormat | None = None  # the format its lines try first (the tokenizer's)
        self.empty = False

    def finish(self, families: set) -> None:
        """Its record into the accounting, once its last line is parsed."""
        stats = self.reader.stats
        self.accounting.files.append(stats)
        if self.empty:
            return
        for w in stats["warnings"][len(self.reader.earlier_warnings):]:
            log.warning("%s: %s", self.path, w)
        log.info("%s: %d lines, %d malformed", self.path, stats["lines"], stats["malformed"])
        families.add(self.family)


class Segment:
    """The lines of one file in a block: ``chunk[start:end]``; ``last``: the file ends there."""

    def __init__(self, file: LogFile, start: int, end: int, last: bool) -> None:
        self.file, self.start, self.end, self.last = file, start, end, last


class FileBlock:
    """Lines of one or more files, in the order of the files, all tried first in one format."""

    def __init__(self, chunk: Chunk, first: LogFormat | None) -> None:
        self.chunk, self.first = chunk, first
        self.segments: list[Segment] = []
        self.tokens: Tokens | None = None
        self.progress = 0  # bytes of the files read for it


class _Joined:
    """Short ends of files copied one after the other into one block (they share its first format)."""

    def __init__(self, first: LogFormat, buffers: Buffers) -> None:
        self.buffers, self.first = buffers, first
        self.buf, self.size = buffers.take(buffers.size), 0
        self.segments: list[Segment] = []
        self.progress = 0

    def fits(self, file: LogFile, chunk: Chunk) -> bool:
        return file.first == self.first and self.size + chunk.size <= len(self.buf)

    def add(self, file: LogFile, chunk: Chunk | None, last: bool, progress: int) -> None:
        start = self.size
        if chunk is not None:
            self.buf[start : start + chunk.size] = chunk.view()
            self.size += chunk.size
            chunk.release()
        self.segments.append(Segment(file, start, self.size, last))
        self.progress += progress

    def block(self) -> FileBlock:
        block = FileBlock(Chunk(self.buf, self.size, self.buffers.free), self.first)
        block.segments, block.progress = self.segments, self.progress
        return block


def family_blocks(files: list[str], accounts: list[Accounting], *, fixed, fast: bool, resume: dict, families: set,
            block_size: int) -> Iterator[FileBlock]:
    """The blocks of lines of ``files`` (read in the reader thread), tokenized with their first format.

    A file's blocks are its own but for its last one: when short, it is copied into a block that
    the next files join while they fit and start with the same format (one block for many small
    rotated files: the work per block is done once).
    """
    joined: _Joined | None = None
    buffers = Buffers(block_size)
    hints: dict = {}  # family -> the formats its last file started with: checked first on the next
    size_of_short = block_size // 2

    def ready(block: FileBlock) -> FileBlock:
        switched = any(s.file.reader.switched for s in block.segments)
        if fast and block.first is not None and block.chunk.size and not switched:
            block.tokens = tokenize(block.chunk, block.first)
        return block

    for index, path in enumerate(files):
        offset, first_line, *earlier = resume.get(path, (0, 0))
        f = LogFile(index, path, accounts[index], first_line, earlier[0] if earlier else None, detect=fixed is None)
        stream = None
        try:
            stream, tell = open_log(path)
            if offset:
                stream.seek(offset)
            stats = f.reader.stats
            head = read_head(stream, stats["warnings"])
            if not head:
                f.empty = True
                if joined is None:
                    empty = FileBlock(Chunk(bytearray(), 0), None)
                    empty.segments.append(Segment(f, 0, 0, True))
                    yield empty
                else:
                    joined.add(f, None, True, 0)
                continue
            strict = not offset and f.family not in families
            fresh = fixed is None and not f.reader.known
            f.reader.known = start_formats(fixed, head, path, known=f.reader.known, strict=strict,
                                           first_line=first_line, hint=hints.get(f.family) if fresh else None)
            if fresh:
                hints[f.family] = list(f.reader.known)
            f.first = f.reader.known[0] if f.reader.known else None
            chunks = buffers.blocks(Prefixed(head, stream), stats["warnings"])
            done = offset
            chunk = next(chunks, None)
            while chunk is not None:
                after = next(chunks, None)  # one ahead: is this the file's last block?
                last = after is None
                now = tell()
                progress, done = max(now - done, 0), now
                if last:
                    if getattr(stream, "warning", None):
                        stats["warnings"].append(stream.warning)
                    families.add(f.family)
                fits = joined is not None and joined.fits(f, chunk)
                if joined is not None and not fits:
                    yield ready(joined.block())
                    joined = None
                if fits:
                    joined.add(f, chunk, last, progress)
                elif last and f.first is not None and chunk.size < size_of_short:
                    joined = _Joined(f.first, buffers)
                    joined.add(f, chunk, last, progress)
                else:
                    own = FileBlock(chunk, f.first)
                    own.segments.append(Segment(f, 0, chunk.size, last))
                    own.progress = progress
                    yield ready(own)
                chunk = after
        except Exception as e:
            if joined is not None:  # the files before are read whole before the error stops the read
                yield ready(joined.block())
                joined = None
            if isinstance(e, OSError) and e.filename is None:  # a damaged disk: say which file
                raise RecsysError(f"{path}: cannot read it: {e.strerror or e}") from e
            raise
        finally:
            if stream is not None and path != "-":
                stream.close()
                getattr(stream, "raw", stream).close()
    if joined is not None:
        yield ready(joined.block())


class Formats:
    """The log formats of one file: the order its lines try them in, and what each took.

    ``stats`` is the file's record in :attr:`Accounting.files`: ``path``, ``lines``,
    ``malformed``, ``format`` and ``escape`` (those of its first lines), ``formats`` (one entry
    per format found, in the order they first appear: ``format``, ``escape``, ``template``,
    ``first_line``, ``last_line``, ``lines``) and ``warnings``.
    """

    def __init__(self, path: str, first_line: int, record: dict | None, *, detect: bool) -> None:
        self.path, self.detect = path, detect
        if record is None:
            self.stats = {"path": path, "lines": first_line, "malformed": 0, "format": None, "formats": [],
                          "warnings": []}
        else:  # the record of the part read already: go on with it
            self.stats = copy.deepcopy(record)
            self.stats.update(path=path, lines=first_line)
            self.stats.setdefault("formats", [])
        self.earlier_warnings = list(self.stats["warnings"])
        self.known: list[LogFormat] = [recorded_format(e) for e in self.stats["formats"]] if detect else []
        self.switched = False  # the first format took no line of the last block: skip its tokenizer

    def add(self, spans: list[tuple[LogFormat, int, int, int]]) -> None:
        """Count what each format took of the file's lines in a block: ``(format, lines, first line,
        last line)``."""
        entries = {(e["template"], e["escape"]): e for e in self.stats["formats"]}
        new = []
        for fmt, lines, first, last in spans:
            entry = entries.get((fmt.template, fmt.escape))
            if entry is None:
                new.append((first, fmt, lines, last))
            else:
                entry["lines"] += lines
                entry["last_line"] = last
        for first, fmt, lines, last in sorted(new, key=lambda n: n[0]):  # the record lists them as they appear
            name = fmt.name or fmt.template
            if self.stats["formats"]:
                log.warning("%s: line %d is the first in log format %s (the lines before are in %s)", self.path,
                            first, name, ", ".join(e["format"] for e in self.stats["formats"]))
            else:
                self.stats["format"], self.stats["escape"] = name, fmt.escape
            self.stats["formats"].append({"format": name, "escape": fmt.escape, "template": fmt.template,
                                          "first_line": first, "last_line": last, "lines": lines})
