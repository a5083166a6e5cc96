"""Throughput of pcapkit against dpkt, tshark and tcpdump on one capture (`python -m bench`)."""
