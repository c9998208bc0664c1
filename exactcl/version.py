"""The version of exactcl, recorded in every certificate it writes."""

__version__ = "0.1.0"
