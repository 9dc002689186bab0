"""A bad tar stream in dockerd's words (pure; a leaf module the Linux and Windows engines share).

import, load and docker cp all read client tars; dockerd answers a broken one
with its untar helper's text (Go's ``archive/tar`` words), which scripts and
clients match on.
"""

from __future__ import annotations

from dockyard.errors import InvalidParameter

# Python's tarfile complaints in the words of Go's archive/tar, which dockerd prints.
_GO_TAR_WORDS = {"invalid header": "archive/tar: invalid tar header", "bad checksum": "archive/tar: invalid tar header",
                 "truncated header": "unexpected EOF", "unexpected end of data": "unexpected EOF"}


def tar_error(exc: BaseException) -> InvalidParameter:
    """``Error processing tar file(exit status 1): archive/tar: invalid tar header``; a cut
    archive reads ``unexpected EOF`` there."""
    text = str(exc)
    words = "unexpected EOF" if isinstance(exc, EOFError) else _GO_TAR_WORDS.get(text, text)
    return InvalidParameter(f"Error processing tar file(exit status 1): {words}")
