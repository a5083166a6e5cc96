"""Speed and memory of pcapkit against tshark, tcptrace, dpkt, scapy, pyshark and tcpdump, on
captures of 600 to millions of packets (`make bench`, `python -m bench`)."""
