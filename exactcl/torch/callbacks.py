"""The laws watched along training with PyTorch Lightning (the optional
``lightning`` extra).

:class:`LawMonitorCallback` is a ``lightning.pytorch.Callback``: when
training starts it makes a :class:`~exactcl.torch.monitor.LawMonitor` of
the laws on the module and attaches it to the trainer's optimizer
(:meth:`~exactcl.torch.monitor.LawMonitor.attach`), so every optimizer step
is counted (with gradient accumulation, the steps taken, not the batches
seen); when training ends, or stops on an error, it detaches it. What was
recorded is ``callback.monitor``.

Lightning is imported when the class is first asked for, never by
``import exactcl`` or ``import exactcl.torch.callbacks``; without it the
class is refused with the extra to install. With the ``lightning`` package
the callback subclasses ``lightning.pytorch.Callback``; with only the older
``pytorch_lightning`` package, its ``Callback``.

Examples
--------
>>> from exactcl.torch.callbacks import LawMonitorCallback  # doctest: +SKIP
>>> laws = exactcl.from_torch(net, (64,)).laws()  # doctest: +SKIP
>>> callback = LawMonitorCallback(laws, module="net")  # pl_module.net  # doctest: +SKIP
>>> lightning.pytorch.Trainer(max_steps=100, callbacks=[callback]).fit(model, data)  # doctest: +SKIP
>>> callback.monitor.max_drift()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..kernel.errors import InputError, UnsupportedError
from .monitor import LawMonitor, check_laws

__all__ = ["callback_base"]  # and LawMonitorCallback, built on first use

_CLASS = None


def callback_base() -> type:
    """Lightning's ``Callback`` class: ``lightning.pytorch``'s, else
    ``pytorch_lightning``'s; refused with the extra to install when neither
    is installed."""
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError:
            raise UnsupportedError("LawMonitorCallback needs PyTorch Lightning: "
                                   "pip install 'exactcl[lightning]'.") from None
    return Callback


def __getattr__(name: str):
    if name == "LawMonitorCallback":
        global _CLASS
        if _CLASS is None:
            _CLASS = _callback_class(callback_base())
        return _CLASS
    raise AttributeError(name)


def _callback_class(base: type) -> type:

    class LawMonitorCallback(base):
        """Record laws along a Lightning training run.

        Parameters
        ----------
        laws : sequence of callables
            ``law(module)`` gives a number or a one-element tensor (the laws
            of :meth:`exactcl.torch.bridge.TorchModel.laws`).
        module : None, str or callable, keyword-only
            What the laws are evaluated on: the LightningModule itself
            (None, the default), its submodule of that name (``"net"``), or
            ``module(pl_module)``. The laws of :func:`exactcl.from_torch` read
            parameters by the names of the module they were made from, so
            give the network they were made from when the LightningModule
            holds it as an attribute.
        every : int, keyword-only
            Record every ``every`` optimizer steps (and at step 0).

        Attributes
        ----------
        monitor : LawMonitor or None
            The monitor of the last run started (None before any).

        Raises
        ------
        InputError
            On bad ``laws``, ``every`` or ``module`` (when made), or, when
            training starts, a trainer with other than one optimizer.
        """

        def __init__(self, laws: Sequence[Callable[[Any], Any]], *,
                     module: str | Callable[[Any], Any] | None = None, every: int = 1):
            super().__init__()
            check_laws(laws, every)
            if module is not None and not isinstance(module, str) and not callable(module):
                raise InputError(f"Argument 'module' must be None (the LightningModule), the "
                                 f"name of its submodule or a callable of it, not "
                                 f"{module!r}.")
            self.laws, self.module, self.every = tuple(laws), module, every
            self.monitor: LawMonitor | None = None

        def _target(self, pl_module):
            if self.module is None:
                return pl_module
            if isinstance(self.module, str):
                try:
                    return pl_module.get_submodule(self.module)
                except AttributeError:
                    raise InputError(f"Argument 'module' names {self.module!r}, which the "
                                     f"LightningModule {type(pl_module).__name__} does not "
                                     f"have.") from None
            return self.module(pl_module)

        def on_train_start(self, trainer, pl_module) -> None:
            optimizers = list(trainer.optimizers)
            if len(optimizers) != 1:
                raise InputError(f"LawMonitorCallback watches the steps of one optimizer; "
                                 f"the trainer has {len(optimizers)}.")
            self._detach()
            self.monitor = LawMonitor(self._target(pl_module), self.laws, every=self.every)
            self.monitor.attach(optimizers[0])

        def _detach(self) -> None:
            if self.monitor is not None:
                self.monitor.detach()

        def on_train_end(self, trainer, pl_module) -> None:
            self._detach()

        def on_exception(self, trainer, pl_module, exception) -> None:
            self._detach()

        def __repr__(self) -> str:
            return f"LawMonitorCallback({len(self.laws)} laws, every={self.every})"

    LawMonitorCallback.__module__ = __name__
    return LawMonitorCallback
