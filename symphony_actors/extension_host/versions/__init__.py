"""Version ranges between extensions: resolution, cycle refusal and conflict explanation."""

from symphony_actors.extension_host.versions.resolver import Requirement, Resolution, resolve

__all__ = ["Requirement", "Resolution", "resolve"]
