"""Certificates written (:mod:`~exactcl.certificates.build`: count, laws and
everything needed to re-check them, in one file) and read back to look at
(:mod:`~exactcl.certificates.view`). Their format and their check are the
kernel's (:mod:`exactcl.kernel.certformat`, :mod:`exactcl.kernel.verifier`).
"""
