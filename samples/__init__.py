"""Recorded sample captures and the lab that records them (see `samples/lab/README.md`)."""
