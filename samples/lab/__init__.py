"""A two-node Kubernetes-style dataplane in network namespaces that records captures with known
faults.

`python -m samples.lab record` builds the cluster declared in `cluster.py`, applies the faults of
the chosen scenarios (`scenarios.py`), captures while the clients run and writes the captures,
`snapshot.json`, `truth.jsonl` and a README into one folder per run.
"""
