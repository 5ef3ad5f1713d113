"""Flush-to-zero for the engine's arithmetic, scoped to the engine's own calls.

Why. Float32 training drives some values towards zero (L2-decayed weights, Adam's first moment
of dead units). Once they fall below 1.18e-38 they are *subnormal*, and many x86-64 CPUs (Intel
especially) run every operation that touches one 15-100x slower: a King County run that takes
under a minute with flush-to-zero takes 18 minutes without it. NumPy offers no switch for this.

How. The CPU's floating-point control register has two bits for it: on x86-64 MXCSR's
flush-to-zero (FTZ, 0x8000: subnormal results become 0) and denormals-are-zero (DAZ, 0x0040:
subnormal inputs are read as 0); on AArch64 FPCR.FZ (bit 24) does both. The register is per
thread, so the engine sets the bits at the start of each public call and restores the caller's
bits when the call returns (:func:`flushing`, :func:`flush_denormals`): user code never sees a
changed mode afterwards, and every thread or worker process that computes sets its own.

On Linux, macOS (x86-64) and FreeBSD the register is read and written by a few bytes of machine
code (``stmxcsr``/``ldmxcsr`` on x86-64, ``mrs``/``msr fpcr`` on AArch64) copied into an
anonymous page that is then made read+execute (never writable and executable at once), and
called through :mod:`ctypes`; no compiler is needed. On Windows the C runtime's own
``_controlfp`` sets the same bits (its denormal field ``_MCW_DN``; ``_DN_FLUSH`` is FTZ + DAZ on
x64, FPCR.FZ on ARM64). Where neither is possible (another architecture, macOS on ARM, a system
that refuses executable memory), everything here is a no-op: results are the same, only the
speed on subnormal values differs; on x86-64 a :class:`RuntimeWarning` says so once.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import mmap
import platform
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["FLUSH_BITS", "FLUSH_MASK", "available", "flush_denormals", "flushing", "get_mode"]

F = TypeVar("F", bound=Callable[..., Any])

# ``uint32 update(uint32 keep, uint32 set)``: old = reg; reg = (old & keep) | set; return old.
# x86-64, System V ABI (keep in edi, set in esi):
#   sub rsp,8; stmxcsr [rsp]; mov eax,[rsp]; and edi,eax; or edi,esi; mov [rsp],edi;
#   ldmxcsr [rsp]; add rsp,8; ret
_X86_64 = bytes.fromhex("4883ec08 0fae1c24 8b0424 21c7 09f7 893c24 0fae1424 4883c408 c3")
# AArch64, AAPCS64 (keep in w0, set in w1):
#   mrs x2,fpcr; and w3,w2,w0; orr w3,w3,w1; msr fpcr,x3; mov w0,w2; ret
_AARCH64 = b"".join(
    word.to_bytes(4, "little")
    for word in (0xD53B4402, 0x0A000043, 0x2A010063, 0xD51B4403, 0x2A0203E0, 0xD65F03C0)
)
_KEEP_ALL = 0xFFFFFFFF
# Windows' float.h: the denormal field of the C runtime's control word and its "flush" value.
_MCW_DN, _DN_FLUSH = 0x03000000, 0x01000000


def _machine_code() -> tuple[bytes, int] | None:
    """The code and the flush bits for this CPU and ABI, or None where unsupported."""
    machine = platform.machine().lower()
    if sys.platform.startswith(("linux", "darwin", "freebsd")) and machine in ("x86_64", "amd64"):
        return _X86_64, 0x8040
    # macOS on ARM only runs signed code pages (and its cores have no subnormal penalty).
    if sys.platform.startswith("linux") and machine in ("aarch64", "arm64"):
        return _AARCH64, 1 << 24
    return None


def _load(code: bytes) -> Callable[[int, int], int]:
    """Copy ``code`` into a fresh page, make it read+execute and wrap it as a C function."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    size = mmap.PAGESIZE
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, flags, -1, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap refused an anonymous page")
    ctypes.memmove(addr, code, len(code))
    if libc.mprotect(addr, size, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        raise OSError(ctypes.get_errno(), "mprotect refused to make the page executable")
    # The page is never unmapped: the function lives as long as the process (fork keeps it).
    return ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32)(addr)


def _windows_update(controlfp: Callable[[int, int], int]) -> Callable[[int, int], int]:
    """``update(keep, set)`` over the C runtime's control word, changing its denormal field only.

    ``controlfp(new, mask)`` is ``_controlfp``: it sets the bits of ``mask`` from ``new`` and
    returns the control word; ``controlfp(0, 0)`` only reads it.
    """

    def update(keep: int, set_bits: int) -> int:
        old = int(controlfp(0, 0))
        new = (old & keep) | set_bits
        if (new ^ old) & _MCW_DN:
            controlfp(new & _MCW_DN, _MCW_DN)
        return old

    return update


def _windows_crt() -> Callable[[int, int], int]:
    """The C runtime's ``_controlfp`` (the Universal CRT that Python itself uses)."""
    controlfp = ctypes.CDLL("ucrtbase")._controlfp
    controlfp.restype = ctypes.c_uint
    controlfp.argtypes = [ctypes.c_uint, ctypes.c_uint]
    return controlfp


def _mechanism() -> tuple[Callable[[], Callable[[int, int], int]], int, int] | None:
    """How to build ``update`` here, the flush bits and the field they belong to; or None."""
    machine = platform.machine().lower()
    if sys.platform == "win32" and machine in ("amd64", "x86_64", "arm64", "aarch64"):
        return lambda: _windows_update(_windows_crt()), _DN_FLUSH, _MCW_DN
    found = _machine_code()
    if found is None:
        return None
    code, bits = found
    return lambda: _load(code), bits, bits


def _init() -> tuple[Callable[[int, int], int] | None, int | None, int | None]:
    found = _mechanism()
    if found is None:
        return None, None, None
    build, bits, mask = found
    try:
        update = build()
        update(_KEEP_ALL, 0)  # a read: proves the code runs before anyone relies on it
    except (OSError, AttributeError, ValueError) as exc:
        warnings.warn(
            f"nnforge cannot set flush-to-zero on this system ({exc}); results are unchanged, "
            "but training may slow down a lot once values become subnormal (docs/DESIGN.md, "
            "'Floating-point mode')",
            RuntimeWarning,
            stacklevel=3,
        )
        return None, None, None
    return update, bits, mask


_update, FLUSH_BITS, FLUSH_MASK = _init()
_state = threading.local()  # .on: this thread is inside a flush scope (the outermost sets it)


def available() -> bool:
    """Whether this process can set flush-to-zero (False means every scope is a no-op)."""
    return _update is not None


def get_mode() -> int | None:
    """The calling thread's raw control register (MXCSR or FPCR; on Windows the C runtime's
    control word), or None where unsupported."""
    return None if _update is None else int(_update(_KEEP_ALL, 0))


def _enter() -> int | None:
    """Set the flush bits if this is the thread's outermost scope; return what to restore."""
    local = _state.__dict__  # per thread
    if _update is None or local.get("on"):
        return None  # nested (or unsupported): nothing to do
    local["on"] = True
    return _update(~FLUSH_MASK & _KEEP_ALL, FLUSH_BITS)


def _exit(old: int | None) -> None:
    """Put the caller's flush bits back (only those: anything else the caller set stays)."""
    if old is not None:
        _state.on = False
        _update(~FLUSH_MASK & _KEEP_ALL, old & FLUSH_MASK)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush subnormal floats to zero in this thread until the block ends.

    Examples
    --------
    >>> import numpy as np
    >>> from nnforge.nn.fpmode import available, flush_denormals
    >>> with flush_denormals():
    ...     tiny = np.float32(1e-30) * np.float32(1e-10)
    >>> bool(tiny == 0) if available() else True
    True
    """
    old = _enter()
    try:
        yield
    finally:
        _exit(old)


def flushing(func: F) -> F:
    """Decorator: run ``func`` inside :func:`flush_denormals` (about 1.5 µs per outermost call,
    0.3 µs nested)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        old = _enter()
        try:
            return func(*args, **kwargs)
        finally:
            _exit(old)

    return wrapper  # type: ignore[return-value]
