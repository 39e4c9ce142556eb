"""The signed DNS universe: description, keys, zone building, NSD and
Unbound, queries.  See README.md in this folder."""
