"""mfutils gives the memory XLA's compiler frees back to the system (mfutils._memory)."""
import platform

import jax
import jax.numpy as jnp

from mfutils import _memory


def test_each_compilation_is_followed_by_a_trim(monkeypatch):
    calls = []
    monkeypatch.setattr(_memory, "_libc_trim", lambda: calls.append)
    listener = _memory.release_after_compiling()
    try:
        x = jnp.arange(7.0)
        jax.jit(lambda x: x * 3.25 - 1)(x).block_until_ready()   # a new program
        first = len(calls)
        jax.jit(lambda x: x * 3.25 - 2)(x).block_until_ready()   # and another
        assert first >= 1 and len(calls) > first and set(calls) == {0}
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_the_environment_turns_it_off(monkeypatch):
    monkeypatch.setenv("MFUTILS_MALLOC_TRIM", "0")
    assert _memory.release_after_compiling() is None


def test_glibc_has_malloc_trim():
    if platform.libc_ver()[0] == "glibc":   # Linux machines: CI, Binder, Colab
        assert _memory._libc_trim() is not None
