"""Container IDs and names, the way Docker makes and checks them."""

from __future__ import annotations

import re
import secrets

from dockyard.errors import InvalidParameter

# fullmatch, not ``$``: ``$`` also matches before a final newline, which let "abc\n" through
VALID_NAME = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")

_LEFT = ("admiring", "brave", "busy", "clever", "dazzling", "eager", "festive", "gifted", "happy",
         "jolly", "keen", "loving", "modest", "nifty", "optimistic", "quirky", "relaxed", "serene",
         "stoic", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous")
_RIGHT = ("albattani", "babbage", "curie", "darwin", "euclid", "fermi", "galileo", "hopper",
          "hypatia", "johnson", "kepler", "lovelace", "meitner", "newton", "noether", "pascal",
          "ritchie", "shannon", "tesla", "turing", "wozniak", "yalow", "zhukovsky")


def new_id() -> str:
    return secrets.token_hex(32)


def random_name() -> str:
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"


def check_name(name: str) -> str:
    """Validate a user-given name; returns it without the leading slash."""
    if not VALID_NAME.fullmatch(name):
        raise InvalidParameter(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")
