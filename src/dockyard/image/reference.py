"""Image references, parsed and normalized the way Docker's distribution/reference does.

Sans-I/O: pure functions over strings.  ``busybox`` normalizes to
``docker.io/library/busybox`` (matched with the default tag ``latest``) and is
shown back as ``busybox:latest`` (the "familiar" form).  Error texts are
Docker's, because users and scripts see them verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_NAME_COMPONENT}(?:\.{_DOMAIN_NAME_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN}/)?{_REMOTE_NAME}"

REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
ANCHORED_TAG_RE = re.compile(rf"^{_TAG}$")
ANCHORED_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
ANCHORED_ID_RE = re.compile(r"^[a-f0-9]{64}$")
_NAME_SPLIT_RE = re.compile(rf"^(?:({_DOMAIN})/)?({_REMOTE_NAME})$")


@dataclass(frozen=True)
class Reference:
    """A parsed, normalized reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as users type it: ``busybox``, ``localhost:5000/a/b``."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_REPO_PREFIX) and path.count("/") == 1:
                path = path[len(OFFICIAL_REPO_PREFIX):]
            return path
        return self.name

    def __str__(self) -> str:
        return self._format(self.name)

    def familiar(self) -> str:
        """``busybox:latest``, ``foo/bar@sha256:...`` (reference.FamiliarString)."""
        return self._format(self.familiar_name)

    def _format(self, name: str) -> str:
        out = name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def with_default_tag(self) -> Reference:
        """reference.TagNameOnly: add ``latest`` when neither tag nor digest is given."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)


def _split_domain(name: str) -> tuple[str, str]:
    """splitDockerDomain: the first component is a domain only if it looks like one."""
    i = name.find("/")
    if i == -1 or ("." not in name[:i] and ":" not in name[:i] and name[:i] != "localhost"
                   and name[:i].lower() == name[:i]):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = name[:i], name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse(text: str) -> Reference:
    """reference.Parse: a fully qualified reference (no normalization)."""
    m = REFERENCE_RE.match(text)
    if m is None:
        if text == "":
            raise InvalidParameter("repository name must have at least one component")
        if REFERENCE_RE.match(text.lower()):
            raise InvalidParameter("repository name must be lowercase")
        raise InvalidParameter("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidParameter(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    nm = _NAME_SPLIT_RE.match(name)
    assert nm is not None  # REFERENCE_RE matched the same grammar
    domain, path = nm.group(1) or "", nm.group(2)
    if not domain:
        # reference.Parse keeps a domain-less name as is; callers normalize first.
        domain, path = _split_domain(name)
    return Reference(domain, path, tag, digest)


def parse_normalized(text: str) -> Reference:
    """reference.ParseNormalizedNamed: ``busybox`` → ``docker.io/library/busybox``."""
    if ANCHORED_ID_RE.match(text):
        raise InvalidParameter(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(text)
    tag_sep = remainder.find(":")
    remote = remainder[:tag_sep] if tag_sep > -1 else remainder
    at = remote.find("@")
    if at > -1:
        remote = remote[:at]
    if remote.lower() != remote:
        raise InvalidParameter(
            f"invalid reference format: repository name ({remote}) must be lowercase")
    return parse(f"{domain}/{remainder}")


def parse_any(text: str) -> Reference | str:
    """reference.ParseAnyReference: a bare 64-hex ID or ``sha256:<hex>`` gives the digest string."""
    if ANCHORED_ID_RE.match(text):
        return f"sha256:{text}"
    if ANCHORED_DIGEST_RE.match(text):
        algo, _, hexpart = text.partition(":")
        if algo == "sha256" and len(hexpart) == 64 and hexpart == hexpart.lower():
            return text
    return parse_normalized(text)


def validate_tag(tag: str) -> str:
    if not ANCHORED_TAG_RE.match(tag):
        raise InvalidParameter("invalid tag format")
    return tag


def normalize_repo_tag(repo: str, tag: str | None) -> Reference:
    """The reference named by a ``repo`` + ``tag`` pair (``docker tag``/``import`` arguments).

    ``repo`` may already carry a tag (``foo:1``); a separate ``tag`` then wins, as
    with dockerd's ``httputils.RepoTagReference`` + ``reference.WithTag``.
    """
    ref = parse_normalized(repo)
    if tag:
        validate_tag(tag)
        ref = Reference(ref.domain, ref.path, tag, ref.digest)
    return ref.with_default_tag()


def familiar_match(pattern: str, ref: Reference) -> bool:
    """reference.FamiliarMatch for the ``reference=`` filter of ``docker images``.

    The pattern is a shell glob matched against the familiar string, and also
    against the familiar name alone when the pattern has no tag.
    """
    def glob(p: str, s: str) -> bool:
        # Go's path.Match: '*' and '?' do not cross '/'.
        out = []
        i = 0
        while i < len(p):
            c = p[i]
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "[":
                j = p.find("]", i + 1)
                if j == -1:
                    return False
                body = p[i + 1:j]
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append("[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)) + "]")
                i = j
            elif c == "\\" and i + 1 < len(p):
                i += 1
                out.append(re.escape(p[i]))
            else:
                out.append(re.escape(c))
            i += 1
        return re.fullmatch("".join(out), s) is not None

    if glob(pattern, ref.familiar()):
        return True
    return glob(pattern, ref.familiar_name)


def short_id(image_id: str) -> str:
    """stringid.TruncateID: 12 hex characters, without ``sha256:``."""
    hexpart = image_id.split(":", 1)[1] if ":" in image_id else image_id
    return hexpart[:12]
