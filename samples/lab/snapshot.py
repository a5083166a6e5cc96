"""The built cluster as `kubectl get pods,services,endpointslices,nodes -A -o json` prints it.

Objects carry the fields the real API returns (apiVersion, kind, metadata, spec, status); uids are
derived from the object's name, so re-recording a sample changes only its timestamps. Terminating
pods keep their deletionTimestamp and stay in their EndpointSlice with terminating=true; a Service
without endpoints gets the placeholder slice the controller writes (`"endpoints": null`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from samples.lab.cluster import Cluster, Node, Pod, Service, published, target_port

Obj = dict[str, Any]
IMAGES = {
    "http": "registry.k8s.io/e2e-test-images/agnhost:2.47",
    "blob": "registry.k8s.io/e2e-test-images/agnhost:2.47",
    "dns": "registry.k8s.io/coredns/coredns:v1.11.1",
    "grpc": "registry.k8s.io/e2e-test-images/agnhost:2.47",  # agnhost grpc-health-checking
}


def uid(kind: str, *names: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pcapkit-lab/{kind}/{'/'.join(names)}"))


def _meta(kind: str, name: str, namespace: str | None, created: str, **more: Any) -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return (
        meta
        | {
            "uid": uid(kind, namespace or "", name),
            "resourceVersion": "1000",
            "creationTimestamp": created,
        }
        | more
    )


def snapshot(cluster: Cluster, vtep_macs: dict[str, str], started: datetime) -> Obj:
    created = _stamp(started - timedelta(hours=1))
    items = [_pod(cluster, p, created, started) for p in cluster.pods]
    items += [_service(s, created) for s in cluster.services]
    # an ExternalName Service has no selector, so the controller writes it no EndpointSlice
    items += [_slice(cluster, s, created) for s in cluster.services if not s.external_name]
    items += [_node(cluster, n, vtep_macs[n.name], created) for n in cluster.nodes]
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(cluster: Cluster, pod: Pod, created: str, started: datetime) -> Obj:
    node = cluster.node(pod.node)
    template = pod.labels["pod-template-hash"]
    app = pod.name.rsplit("-", 2)[0]
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": f"{app}-{template}",
        "uid": uid("ReplicaSet", pod.namespace, f"{app}-{template}"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    extra: Obj = {"labels": pod.labels, "ownerReferences": [owner]}
    if pod.terminating:
        extra |= {"deletionTimestamp": _stamp(started), "deletionGracePeriodSeconds": 30}
    container: Obj = {
        "name": app,
        "image": IMAGES[pod.process.kind]
        if pod.process
        else "registry.k8s.io/e2e-test-images/agnhost:2.47",
    }
    if pod.ports:
        container["ports"] = [
            {"name": c.name, "containerPort": c.port, "protocol": c.protocol} for c in pod.ports
        ]
    ready = "True" if pod.ready and not pod.terminating else "False"
    conditions = [
        {"type": t, "status": s, "lastTransitionTime": created}
        for t, s in [
            ("Initialized", "True"),
            ("Ready", ready),
            ("ContainersReady", ready),
            ("PodScheduled", "True"),
        ]
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta("Pod", pod.name, pod.namespace, created, **extra),
        "spec": {
            "containers": [container],
            "nodeName": pod.node,
            "dnsPolicy": "None" if pod.nameserver else "ClusterFirst",
            **({"dnsConfig": dns_config} if (dns_config := _dns_config(pod)) else {}),
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": node.underlay_ip,
            "hostIPs": [{"ip": node.underlay_ip}],
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
            "startTime": created,
            "qosClass": "BestEffort",
        },
    }


def _dns_config(pod: Pod) -> Obj:
    """The pod's `dnsConfig`: its nameserver (with `dnsPolicy: None`) and resolver options."""
    config: Obj = {}
    if pod.nameserver:
        config["nameservers"] = [pod.nameserver]
    if pod.resolver_options:
        config["options"] = [{"name": n, "value": v} for n, v in pod.resolver_options]
    return config


def _family(address: str) -> str:
    return "IPv6" if ":" in address else "IPv4"


def _service(service: Service, created: str) -> Obj:
    ports = []
    for p in service.ports:
        port: Obj = {
            "name": p.name,
            "port": p.port,
            "protocol": p.protocol,
            "targetPort": p.target_port,
        }
        if p.node_port:
            port["nodePort"] = p.node_port
        if p.app_protocol:
            port["appProtocol"] = p.app_protocol
        ports.append(port)
    spec: Obj = {
        "clusterIP": service.cluster_ip,
        "clusterIPs": [service.cluster_ip],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": [_family(service.cluster_ip)],
        "ipFamilyPolicy": "SingleStack",
        "ports": ports,
        "selector": service.selector,
        "sessionAffinity": "None",
        "type": service.type,
    }
    if service.headless:
        spec |= {"clusterIP": "None", "clusterIPs": ["None"]}
    if service.publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    if service.external_name:  # the API keeps no ClusterIP, selector or IP family for one
        spec = {"externalName": service.external_name, "ports": ports,
                "sessionAffinity": "None", "type": service.type}
    if service.type in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = service.external_traffic_policy
    labels = {"k8s-app": "kube-dns"} if service.name == "kube-dns" else {"app": service.name}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("Service", service.name, service.namespace, created, labels=labels),
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": service.load_balancer_ip, "ipMode": "VIP"}]}
                   if service.load_balancer_ip else {}},
    }


def _slice(cluster: Cluster, service: Service, created: str) -> Obj:
    name = f"{service.name}-{uid('EndpointSlice', service.ref)[:5]}"
    pods = cluster.endpoints(service)
    endpoints = [
        {
            "addresses": [p.ip],
            "conditions": {
                "ready": published(service, p),
                "serving": p.ready or p.terminating,
                "terminating": p.terminating,
            },
            "nodeName": p.node,
            "targetRef": {
                "kind": "Pod",
                "name": p.name,
                "namespace": p.namespace,
                "uid": uid("Pod", p.namespace, p.name),
            },
        }
        for p in pods
    ]
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": service.name,
        "uid": uid("Service", service.namespace, service.name),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    meta = _meta(
        "EndpointSlice",
        name,
        service.namespace,
        created,
        generateName=f"{service.name}-",
        ownerReferences=[owner],
        labels={
            "kubernetes.io/service-name": service.name,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
    )
    obj: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        # an IPv6 cluster's controller writes IPv6 slices (the family of the Service's)
        "addressType": _family(service.cluster_ip),
        "endpoints": endpoints or None,
    }
    # The slice's ports carry the resolved target port; with no endpoints, the controller writes
    # none.
    obj["ports"] = (
        [
            {"name": p.name, "port": target_port(pods[0], p), "protocol": p.protocol}
            | ({"appProtocol": p.app_protocol} if p.app_protocol else {})
            for p in service.ports
        ]
        if pods
        else None
    )
    return obj


def _node(cluster: Cluster, node: Node, vtep_mac: str, created: str) -> Obj:
    vx = cluster.vxlan
    annotations = {
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/backend-data": f'{{"VNI":{vx.vni},"VtepMAC":"{vtep_mac}"}}',
        "flannel.alpha.coreos.com/public-ip": node.underlay_ip,
    }
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta("Node", node.name, None, created, labels=labels, annotations=annotations),
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node.underlay_ip},
                *([{"type": "InternalIP", "address": node.underlay_ip6}]
                  if cluster.ipv6_underlay else []),
                {"type": "Hostname", "address": node.name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastTransitionTime": created,
                }
            ],
            "nodeInfo": {
                "kubeProxyVersion": "v1.29.2",
                "kubeletVersion": "v1.29.2",
                "containerRuntimeVersion": "containerd://1.7.13",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
