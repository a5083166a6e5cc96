"""From a finding to Wireshark: the display filter and decode-as flags that show a finding's
packets (`display_filter`, `decode_as`), its evidence packets as one pcapng (`extract`,
`pcapng`), and tshark's own dissection and expert info on them through pyshark (`tshark`,
`show`, `cross_check`).

Reads findings and the packet table; nothing upstream depends on it.
"""
