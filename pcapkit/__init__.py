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

# First: polars' allocator reads its settings as polars loads.
from pcapkit import allocator  # noqa: F401
from pcapkit.api import Analysis, CaptureInfo, analyze, read_packets
from pcapkit.errors import CaptureError, PcapkitError, SnapshotError, StoreError, UsageError
from pcapkit.store import load, save
from pcapkit.version import __version__

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
