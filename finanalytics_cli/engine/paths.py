"""Every path finanalytics uses comes from here.

Default locations come from platformdirs; ``FINANALYTICS_HOME`` puts everything under
one directory (tests and portable installs); a profile name selects a separate store;
an explicit database path overrides the store location of a profile.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from finanalytics_cli.engine.errors import InvalidInput

APP_NAME = "finanalytics"
DEFAULT_PROFILE = "default"
DB_FILENAME = "finanalytics.duckdb"
KEY_SUFFIX = ".key"
_PROFILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Paths:
    """Resolved locations for one profile."""

    profile: str
    data_dir: Path
    config_dir: Path
    cache_dir: Path
    db_path: Path

    @property
    def key_path(self) -> Path:
        """The wrapped data key lives beside the database it unlocks."""
        return self.db_path.with_name(self.db_path.name + KEY_SUFFIX)

    @property
    def maps_dir(self) -> Path:
        return self.config_dir / "maps"

    def as_dict(self) -> dict[str, str]:
        return {
            "profile": self.profile,
            "data_dir": str(self.data_dir),
            "config_dir": str(self.config_dir),
            "cache_dir": str(self.cache_dir),
            "db_path": str(self.db_path),
            "key_path": str(self.key_path),
        }


def validate_profile(name: str) -> str:
    if not _PROFILE_RE.match(name):
        raise InvalidInput(
            f"invalid profile name {name!r}: use letters, digits, '.', '_' or '-' "
            "(at most 64 characters, not starting with a symbol)"
        )
    return name


def resolve_paths(profile: str | None = None, db: str | os.PathLike[str] | None = None) -> Paths:
    """Resolve the data, config and cache directories and the database path."""
    if profile is None:
        profile = os.environ.get("FINANALYTICS_PROFILE") or DEFAULT_PROFILE
    profile = validate_profile(profile)
    home = os.environ.get("FINANALYTICS_HOME")
    if home:
        base = Path(home).expanduser().absolute()
        data_root, config_root, cache_root = base / "data", base / "config", base / "cache"
    else:
        import platformdirs

        data_root = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        config_root = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
        cache_root = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
    data_dir = data_root / "profiles" / profile
    db_path = Path(db).expanduser().absolute() if db else data_dir / DB_FILENAME
    return Paths(
        profile=profile,
        data_dir=data_dir,
        config_dir=config_root / "profiles" / profile,
        cache_dir=cache_root / "profiles" / profile,
        db_path=db_path,
    )
