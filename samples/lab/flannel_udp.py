"""flannel's UDP backend in miniature: what flanneld does with `"Backend": {"Type": "udp"}`.

    python -m samples.lab.flannel_udp TUN LOCAL_IP PEER_IP

Opens the TUN device TUN (the node's `flannel0`, already created and routed), and relays: every
IP packet the kernel routes into it is sent whole as the payload of a UDP datagram from
LOCAL_IP:8285 to PEER_IP:8285, and every datagram received on 8285 is written back into the TUN
device for the kernel to deliver. No header is added, as flannel adds none. Prints `ready` on
stderr once both ends are open; runs until killed.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import struct
import sys

from pcapkit.decode import flannel

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
MTU = 65535


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main() -> None:
    tun_name, local, peer = sys.argv[1:4]
    (port,) = flannel.PORTS
    tun = open_tun(tun_name)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((local, port))
    print("ready", file=sys.stderr, flush=True)
    while True:
        readable, _, _ = select.select([tun, udp], [], [])
        if tun in readable:
            udp.sendto(os.read(tun, MTU), (peer, port))
        if udp in readable:
            os.write(tun, udp.recv(MTU))


if __name__ == "__main__":
    main()
