"""core.config.module_ready: a module another thread is still importing does not count as imported."""

from __future__ import annotations

import importlib.util
import sys
import types

from core.config import module_ready


def test_a_module_still_initialising_is_not_ready(monkeypatch):
    module = types.ModuleType("bae_half_imported")
    module.__spec__ = importlib.util.spec_from_loader("bae_half_imported", loader=None)
    module.__spec__._initializing = True  # what importlib sets while the module's code runs
    monkeypatch.setitem(sys.modules, "bae_half_imported", module)
    assert not module_ready("bae_half_imported")
    module.__spec__._initializing = False  # importlib clears it when the module's code has run
    assert module_ready("bae_half_imported")


def test_imported_and_absent_modules():
    assert module_ready("json")
    assert not module_ready("bae_never_imported_module")
