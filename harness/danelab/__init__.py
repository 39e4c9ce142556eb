"""danelab: a conformance lab for SMTP DANE (RFC 7672)."""

__version__ = "0.1.0"
