"""Flush-to-zero scopes: subnormals flushed inside, the caller's mode back afterwards."""

from __future__ import annotations

import platform
import sys
import threading
import warnings

import numpy as np
import pytest

from nnforge.nn import Adam, Dense, Network, fpmode

SUB = np.float32(1e-39)  # subnormal: below float32's smallest normal 1.18e-38
NORMAL = np.float32(2e-38)
ON_X86_64_LINUX = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def test_available_where_the_project_runs():
    # CI and the dev machines are x86-64 Linux: the mechanism must work there, not just no-op.
    if ON_X86_64_LINUX:
        assert fpmode.available()
        assert fpmode.FLUSH_BITS == 0x8040
    assert fpmode.available() == (fpmode.get_mode() is not None)


needs_flush = pytest.mark.skipif(not fpmode.available(), reason="no flush-to-zero on this CPU")


@needs_flush
def test_subnormal_results_and_inputs_are_zero_inside_only():
    assert np.float32(1e-30) * np.float32(1e-10) != 0  # gradual underflow by default
    assert SUB + NORMAL != NORMAL
    with fpmode.flush_denormals():
        assert np.float32(1e-30) * np.float32(1e-10) == 0  # FTZ: a subnormal result is 0
        assert SUB + NORMAL == NORMAL  # DAZ: a subnormal input reads as 0
        assert fpmode.get_mode() & fpmode.FLUSH_BITS == fpmode.FLUSH_BITS
    assert SUB + NORMAL != NORMAL


@needs_flush
def test_mode_restored_after_exceptions_and_nesting():
    before = fpmode.get_mode()

    def fails():
        with fpmode.flush_denormals():
            with fpmode.flush_denormals():
                pass
            assert fpmode.get_mode() & fpmode.FLUSH_BITS  # the inner exit keeps the outer scope
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fails()
    assert fpmode.get_mode() == before


@needs_flush
def test_a_caller_who_set_flush_keeps_it():
    old = fpmode._update(0xFFFFFFFF, fpmode.FLUSH_BITS)  # the caller's own setting
    try:
        with fpmode.flush_denormals():
            pass
        assert fpmode.get_mode() & fpmode.FLUSH_BITS == fpmode.FLUSH_BITS
    finally:
        fpmode._update(0xFFFFFFFF & ~fpmode.FLUSH_BITS, old & fpmode.FLUSH_BITS)


@needs_flush
def test_the_mode_is_per_thread():
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def other():
        with fpmode.flush_denormals():
            inside.set()
            release.wait(5)
        seen["after"] = fpmode.get_mode()

    before = fpmode.get_mode()
    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    assert fpmode.get_mode() == before  # the other thread's scope does not leak here
    release.set()
    thread.join()
    assert seen["after"] & fpmode.FLUSH_BITS == before & fpmode.FLUSH_BITS


@needs_flush
def test_engine_calls_flush_subnormal_state_and_restore_the_mode():
    net = Network(3, [Dense(4, "relu"), Dense(1)], optimizer=Adam(), replicas=2, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 3)).astype("float32")
    y = rng.normal(size=(2, 8, 1)).astype("float32")
    before = fpmode.get_mode()
    net.train_step(x, y)
    m = net.optimizers[0].slots[0]
    m[:] = SUB  # a subnormal first moment, as a dead unit's decaying gradient leaves it
    net.grads[:] = 0
    net.apply_gradients()  # m *= beta_1 would stay subnormal without flush-to-zero
    assert not np.any(m)
    for call in (
        lambda: net.train_step(x, y),
        lambda: net.predict(x),
        lambda: net.evaluate(x, y),
        lambda: net.forward(x),
    ):
        call()
        assert fpmode.get_mode() == before


def test_without_the_mechanism_everything_still_runs(monkeypatch):
    monkeypatch.setattr(fpmode, "_update", None)
    assert not fpmode.available()
    assert fpmode.get_mode() is None
    with fpmode.flush_denormals():
        assert np.float32(1e-30) * np.float32(1e-10) != 0
    net = Network(2, [Dense(1)], seed=0)
    assert net.predict(np.ones((3, 2), "float32")).shape == (1, 3, 1)


def test_refused_executable_memory_warns_and_falls_back(monkeypatch):
    def refuse(code):
        raise OSError(13, "mprotect refused to make the page executable")

    monkeypatch.setattr(fpmode, "_load", refuse)
    monkeypatch.setattr(fpmode, "_machine_code", lambda: (b"\xc3", 0x8040))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fpmode._init() == (None, None, None)
    assert any("flush-to-zero" in str(w.message) for w in caught)


# -- Windows: the C runtime's _controlfp, simulated by its documented contract ----------------

_X64_DEFAULT = 0x0008001F  # the x64 CRT's default word: exceptions masked, round to nearest


class _ControlFp:
    """``_controlfp(new, mask)``: word = (word & ~mask) | (new & mask); returns the word."""

    def __init__(self, word: int) -> None:
        self.word = word
        self.writes = 0

    def __call__(self, new: int, mask: int) -> int:
        if mask:
            self.writes += 1
        self.word = (self.word & ~mask) | (new & mask)
        return self.word


def _as_windows(monkeypatch, crt: _ControlFp) -> None:
    monkeypatch.setattr(fpmode.sys, "platform", "win32")
    monkeypatch.setattr(fpmode.platform, "machine", lambda: "AMD64")
    monkeypatch.setattr(fpmode, "_windows_crt", lambda: crt)


@pytest.mark.parametrize("field", [0x0, 0x01000000, 0x02000000, 0x03000000])
def test_windows_scope_sets_the_denormal_field_and_puts_the_callers_back(monkeypatch, field):
    crt = _ControlFp(_X64_DEFAULT | field)
    _as_windows(monkeypatch, crt)
    update, bits, mask = fpmode._init()
    assert (bits, mask) == (0x01000000, 0x03000000)  # float.h: _DN_FLUSH, _MCW_DN
    monkeypatch.setattr(fpmode, "_update", update)
    monkeypatch.setattr(fpmode, "FLUSH_BITS", bits)
    monkeypatch.setattr(fpmode, "FLUSH_MASK", mask)
    before = crt.word
    with fpmode.flush_denormals():
        assert crt.word & mask == bits  # flush operands and results, whatever was set before
        assert crt.word & ~mask == before & ~mask  # nothing else in the word changes
        with fpmode.flush_denormals():
            assert crt.word & mask == bits
        assert crt.word & mask == bits  # the inner exit keeps the outer scope
        assert fpmode.get_mode() == crt.word
    assert crt.word == before
    assert crt.writes == (0 if field == bits else 2)  # nothing written when already flushing


def test_windows_without_the_c_runtime_warns_and_falls_back(monkeypatch):
    def missing():
        raise OSError("ucrtbase not found")

    _as_windows(monkeypatch, _ControlFp(_X64_DEFAULT))
    monkeypatch.setattr(fpmode, "_windows_crt", missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fpmode._init() == (None, None, None)
    assert any("flush-to-zero" in str(w.message) for w in caught)
