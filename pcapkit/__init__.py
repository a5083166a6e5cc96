"""pcapkit: what went wrong in a Kubernetes network incident, read from tcpdump captures.

    >>> import pcapkit
    >>> result = pcapkit.analyze(["pod.pcap", "node-any.pcap"], snapshots=["cluster.json"])
    >>> result.symptoms        # one row per symptom (polars), as the JSON's `symptoms`
    >>> result.packets         # one row per packet, inner headers primary
    >>> pcapkit.save(result, "incident.store")     # Parquet tables, queryable by DuckDB too
    >>> again = pcapkit.load("incident.store")    # no decoding; the captures need not exist

The pipeline's stages live in `pcapkit.read`, `.decode`, `.flows`, `.kube`, `.detect`, `.report`;
`pcapkit.store` keeps an analysis's tables on disk as Parquet.
"""

from typing import TYPE_CHECKING

# First: polars' allocator reads its settings as polars loads.
from pcapkit import allocator  # noqa: F401
from pcapkit.errors import CaptureError, PcapkitError, SnapshotError, StoreError, UsageError
from pcapkit.version import __version__

if TYPE_CHECKING:
    from pcapkit.api import Analysis, CaptureInfo, analyze, read_packets
    from pcapkit.store.load import load
    from pcapkit.store.save import save
del TYPE_CHECKING  # not part of the API (`dir(pcapkit)`)

#: the module defining each of these names, imported as one of them is first used: importing a
#: submodule (the console script's, which must set the environment numpy starts with before
#: numpy loads; a worker's task module) imports the package first, and would load the whole
#: pipeline with numpy and polars (0.5 s) before the submodule ran a line
_LAZY = {"Analysis": "pcapkit.api", "CaptureInfo": "pcapkit.api", "analyze": "pcapkit.api",
         "read_packets": "pcapkit.api", "load": "pcapkit.store", "save": "pcapkit.store"}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'pcapkit' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Analysis",
    "CaptureError",
    "CaptureInfo",
    "PcapkitError",
    "SnapshotError",
    "StoreError",
    "UsageError",
    "__version__",
    "analyze",
    "load",
    "read_packets",
    "save",
]
