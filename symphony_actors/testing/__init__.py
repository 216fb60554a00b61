"""The public test kit: full in-memory fakes of every port, a fake clock and an in-process runtime."""

from symphony_actors.testing.fake_artifacts import FakeArtifacts
from symphony_actors.testing.fake_conductor import FakeConductor
from symphony_actors.testing.fake_dag import FakeDag
from symphony_actors.testing.fake_extension import FakeExtensionPort
from symphony_actors.testing.fake_pit import FakeArbitration, FakePool, FakeStale, fake_pit
from symphony_actors.testing.fake_text_editing import FakeTextEditing
from symphony_actors.testing.runtime import FakeClock, LocalRuntime, PublishedEvent
from symphony_actors.testing.waiting import wait_for

__all__ = [
    "FakeArbitration",
    "FakeArtifacts",
    "FakeClock",
    "FakeConductor",
    "FakeDag",
    "FakeExtensionPort",
    "FakePool",
    "FakeStale",
    "FakeTextEditing",
    "LocalRuntime",
    "PublishedEvent",
    "fake_pit",
    "wait_for",
]
