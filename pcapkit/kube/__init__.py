"""Stage 4, kube: names from the cluster snapshot, DNAT legs, and each capture's vantage."""

from pcapkit.kube.dnat import dnat_legs, endpoint_state
from pcapkit.kube.names import address_names
from pcapkit.kube.snapshot import Snapshot, load_snapshot
from pcapkit.kube.vantage import Vantage, vantage_of

__all__ = ["Snapshot", "Vantage", "address_names", "dnat_legs", "endpoint_state",
           "load_snapshot", "vantage_of"]
