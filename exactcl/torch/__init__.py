"""PyTorch modules in (the optional ``torch`` extra): reading what a module
computes (:mod:`~exactcl.torch.capture`), the program, parameter map and
laws as torch functions (:mod:`~exactcl.torch.bridge`), the laws watched
along real training (:mod:`~exactcl.torch.monitor`, attached to an
optimizer or stepped by hand), and its PyTorch Lightning callback
(:mod:`~exactcl.torch.callbacks`, the optional ``lightning`` extra).

Inside this package ``import torch`` is PyTorch itself (imports are
absolute); this folder only imports it where a module is read.
"""
