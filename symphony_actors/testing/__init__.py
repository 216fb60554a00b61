"""The public test kit: full in-memory fakes of every port, a fake clock and an in-process runtime."""

from symphony_actors.testing.runtime import FakeClock, LocalRuntime, PublishedEvent

__all__ = ["FakeClock", "LocalRuntime", "PublishedEvent"]
