"""The store: an `Analysis` as Parquet tables in a directory, decoded once and queried many times
(with pcapkit, polars, DuckDB or anything else that reads Parquet). `pcapkit convert` writes
one; `pcapkit analyze DIR` and `pcapkit.load(DIR)` start from it without the capture files.

    DIR/
    ├── pcapkit-store.json                    the manifest, written last (`manifest.py`)
    ├── packets/capture=N/part-0.parquet      packet table + the flow stage's columns
    ├── connections/capture=N/part-0.parquet  TCP connections, by the capture of the row's view
    ├── views.parquet                         one row per view (has `capture`)
    ├── dns.parquet                           DNS transactions, merged over captures
    ├── icmp_errors.parquet                   ICMP errors, merged over captures
    ├── findings.parquet                      symptoms (with `k8s_*` when a snapshot was given)
    └── snapshot/{pods,services,endpoints,nodes}.parquet    the cluster snapshot, if any

Partitions are hive style: the `capture` column lives in the directory name, not in the files.
The layout, and how to query it: docs/store.md.
"""

from pcapkit.store.load import is_store, load
from pcapkit.store.save import check_target, convert, save

__all__ = ["check_target", "convert", "is_store", "load", "save"]
