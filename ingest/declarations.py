"""Settings declared once: each field's type, default, bounds, environment variable, flag and help.

A settings dataclass declares every field with `setting()`. The environment (`read_environment`),
the command line (which builds its options from `declarations()`), the Python API (`validate()` in
`__post_init__`) and the README's settings table all read that one declaration, so every entry
point accepts and refuses the same values, with one line that says what is allowed.
"""

from __future__ import annotations

import math
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


class SettingError(ValueError):
    """A setting was given a value it does not allow; the message is one line saying what is allowed."""


@dataclass(frozen=True, slots=True)
class Spec:
    """What a declaration adds to a field's type and default."""

    env: str
    """The environment variable (ASSISTANT_...)."""
    help: str
    """What the setting does, in a few words (the CLI help and the README table)."""
    flag: str = ""
    """The command-line option (e.g. "--k"); empty when only the environment sets it."""
    metavar: str = ""
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    """For numbers: what they count ("seconds"), shown in what is allowed."""
    pattern: str = ""
    """For text: a regular expression the whole value must match."""
    allowed: str = ""
    """For text and paths: what `pattern` allows, in words."""
    default_text: str = ""
    """How the default is shown, when the value itself would not say it (None, computed defaults)."""
    secret: bool = False
    """A credential: redacted from every message, never echoed back in an error."""


def setting(default: Any, *, env: str, help: str, **spec: Any) -> Any:
    """A dataclass field declared as a setting (see Spec for the keywords)."""
    return field(default=default, metadata={"setting": Spec(env=env, help=help, **spec)})


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared setting: its field name, Python type and Spec."""

    name: str
    kind: type
    """int, float, bool, str or Path."""
    optional: bool
    """None is allowed (and means "not set")."""
    default: Any
    spec: Spec

    def describe(self) -> str:
        """What values are allowed, in words ("a whole number from 1 to 50")."""
        if self.spec.allowed:
            return self.spec.allowed
        if self.kind is bool:
            return f"on or off ({', '.join(TRUE)} / {', '.join(FALSE)})"
        if self.kind is Path:
            return "a folder path"
        if self.kind in (int, float):
            noun = "a whole number" if self.kind is int else "a number"
            if self.spec.unit:
                noun += f" of {self.spec.unit}"
            low, high = self.spec.minimum, self.spec.maximum
            if low is not None and high is not None:
                return f"{noun} from {_number(low)} to {_number(high)}"
            if low is not None:
                return f"{noun} of at least {_number(low)}"
            if high is not None:
                return f"{noun} of at most {_number(high)}"
            return noun
        return "text"

    def default_shown(self) -> str:
        """The default as the README and --help show it."""
        if self.spec.default_text:
            return self.spec.default_text
        if self.kind is bool:
            return "on" if self.default else "off"
        if self.kind is Path and self.default is not None:
            return f"{self.default}/"
        if self.kind is float:
            return _number(self.default)
        return str(self.default)

    def parse(self, text: str, label: str) -> Any:
        """The value of `text` (from the environment or a flag); `label` names it in the error."""
        raw = text.strip()
        try:
            if self.kind is bool:
                if raw.lower() in TRUE:
                    return True
                if raw.lower() in FALSE:
                    return False
                raise ValueError(raw)
            if self.kind is int:
                return self.check(int(raw), label)
            if self.kind is float:
                return self.check(float(raw), label)
            if self.kind is Path:
                return self.check(raw, label)
            return self.check(text, label)
        except ValueError:  # SettingError too: the refusal quotes the text as it was given
            raise self.error(label, text) from None

    def check(self, value: Any, label: str) -> Any:
        """`value` (from Python) if allowed, normalized (str -> Path, int -> float); else SettingError."""
        if value is None and self.optional:
            return None
        if self.kind is bool:
            if not isinstance(value, bool):
                raise self.error(label, value)
            return value
        if self.kind in (int, float):
            return self._check_number(value, label)
        if self.kind is Path:
            if isinstance(value, str | os.PathLike) and str(value).strip():
                return Path(value).expanduser()
            raise self.error(label, value)
        if not isinstance(value, str) or (self.spec.pattern and not re.fullmatch(self.spec.pattern, value)):
            raise self.error(label, value)
        return value

    def _check_number(self, value: Any, label: str) -> Any:
        allowed = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed) or not math.isfinite(value):
            raise self.error(label, value)
        low, high = self.spec.minimum, self.spec.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(label, value)
        return float(value) if self.kind is float else value

    def secrets_in(self, value: Any) -> set[str]:
        """Credentials in a value: all of a secret one (and its part after "user:"), and a URL's password."""
        if not isinstance(value, str) or not value.strip():
            return set()
        found = _url_passwords(value)
        if self.spec.secret:
            found.add(value)
            user, sep, password = value.partition(":")
            if sep and user and password:
                found.add(password)
        return found

    def error(self, label: str, value: Any) -> SettingError:
        """The one-line refusal of `value`."""
        shown = "the value given" if self.spec.secret else repr(value)
        return SettingError(f"{label} must be {self.describe()}, not {shown}")


_DECLARED: dict[type, tuple[Declared, ...]] = {}


def declarations(cls: type) -> tuple[Declared, ...]:
    """The declared settings of a settings dataclass, in field order."""
    if cls not in _DECLARED:
        hints = typing.get_type_hints(cls)
        found = []
        for item in fields(cls):
            spec = item.metadata.get("setting")
            if isinstance(spec, Spec):
                kind, optional = _kind(hints[item.name])
                found.append(Declared(item.name, kind, optional, item.default, spec))
        _DECLARED[cls] = tuple(found)
    return _DECLARED[cls]


def validate(instance: Any) -> None:
    """Check every declared field of a (frozen) settings object, normalizing in place; for `__post_init__`."""
    for declared in declarations(type(instance)):
        value = getattr(instance, declared.name)
        checked = declared.check(value, declared.name)
        if checked is not value:
            object.__setattr__(instance, declared.name, checked)


def read_environment(cls: type, environ: Mapping[str, str]) -> dict[str, Any]:
    """The values that `environ` sets for `cls`'s settings (empty variables count as unset)."""
    values = {}
    for declared in declarations(cls):
        raw = environ.get(declared.spec.env, "")
        if raw.strip():
            values[declared.name] = declared.parse(raw, declared.spec.env)
    return values


def checked_overrides(cls: type, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Explicit (non-None) values for `cls`'s settings, checked; an unknown name is refused."""
    known = {d.name: d for d in declarations(cls)}
    values = {}
    for name, value in overrides.items():
        if name not in known:
            raise SettingError(f"unknown setting {name!r}; known settings: {', '.join(sorted(known))}")
        if value is not None:
            values[name] = known[name].check(value, name)
    return values


def secret_values(instance: Any) -> set[str]:
    """The credentials a settings object holds: secret settings, and passwords inside URL settings."""
    found: set[str] = set()
    for declared in declarations(type(instance)):
        found |= declared.secrets_in(getattr(instance, declared.name))
    return found


def _url_passwords(value: str) -> set[str]:
    match = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://([^/@\s]+)@", value.strip())
    if not match:
        return set()
    _, sep, password = match.group(1).partition(":")
    return {password} if sep and password else set()


def _kind(hint: Any) -> tuple[type, bool]:
    arguments = typing.get_args(hint)
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [a for a in arguments if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"a setting must have one type (optionally | None), not {hint}")
        return kinds[0], True
    return hint, False


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
