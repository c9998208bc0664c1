"""The exceptions of exactcl, at their public path: defined in the kernel
(:mod:`exactcl.kernel.errors`), which everything else imports from too.
"""

from .kernel.errors import (
    CertificateFormatError,
    ExactclError,
    InputError,
    ResourceError,
    UnsupportedError,
    VerificationError,
    bad_argument,
    plural,
)

__all__ = ["CertificateFormatError", "ExactclError", "InputError", "ResourceError",
           "UnsupportedError", "VerificationError", "bad_argument", "plural"]
