"""The folder of JAX's persistent compilation cache for this machine: one per CPU model, flags and
jax version, so compiled code is never reused on a machine whose instruction set may differ.

``python tools/jax_cache.py`` prints it (the Makefile exports it to notebook kernels);
``environment()`` gives the variables that turn the cache on for this process and its children.
"""
import hashlib
import importlib.metadata
import pathlib
import platform

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cache_dir() -> pathlib.Path:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu += "".join(line for line in f if line.startswith(("model name", "flags")))
    except OSError:
        cpu += platform.processor()
    tag = f"{cpu}{importlib.metadata.version('jax')}{importlib.metadata.version('jaxlib')}"
    return ROOT / ".jax_cache" / hashlib.sha256(tag.encode()).hexdigest()[:12]


def environment() -> dict[str, str]:
    """Every compilation is cached, however quick (most of a notebook's compilations are)."""
    return {"JAX_COMPILATION_CACHE_DIR": str(cache_dir()),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


if __name__ == "__main__":
    print(cache_dir())
