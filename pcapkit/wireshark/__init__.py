"""From a finding to Wireshark: the display filter and decode-as flags that show a finding's
packets (`display_filter`, `decode_as`), its evidence packets as one pcapng (`extract`,
`pcapng`), and tshark's own dissection and expert info on them through pyshark (`tshark`,
`show`, `cross_check`), or dpkt's when tshark is absent (`dpkt_show`, `app_layers`).

Reads findings, the packet table and, for dpkt, the packets' bytes (the inner packet where
pcapkit's decoder finds it); nothing upstream depends on it.
"""
