"""The configuration: TOML (load.py) into frozen dataclasses (model.py), keys in schema.py."""

from watcher.config.load import DEFAULT_CONFIG, load_config, parse_config
from watcher.config.model import (
    Channel,
    Config,
    Defaults,
    Delivery,
    Entity,
    Selectors,
    Source,
    Topic,
)

__all__ = [
    "DEFAULT_CONFIG",
    "Channel",
    "Config",
    "Defaults",
    "Delivery",
    "Entity",
    "Selectors",
    "Source",
    "Topic",
    "load_config",
    "parse_config",
]
