"""Learning-rate schedules for ``Network.fit(schedule=...)``.

A schedule is told the starting η once (``start``) and, after every epoch, returns the η
of the next epoch, or None to stop training (``after_epoch``).

* ``HalveOnPlateau`` is the seeds' recipe: hold η while the validation accuracy keeps
  improving; after ``patience`` epochs without a new best, divide η by ``factor``
  (default 2); stop once η has fallen to η₀/1024 (``min_ratio``).
* ``StepDecay``: η = η₀ · γ^⌊epoch / step_size⌋.
* ``ExponentialDecay``: η = η₀ · γ^epoch.
"""
import math


def _positive(name, value, integer=False, below_one=False):
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or \
        not math.isfinite(value) or value <= 0 or (integer and int(value) != value) or \
        (below_one and value >= 1)
    if bad:
        what = "a positive integer" if integer else ("a number in (0, 1)" if below_one
                                                     else "a positive number")
        raise ValueError(f"{name}={value!r} is invalid; expected {what}")


class HalveOnPlateau:
    """Divide η by ``factor`` after ``patience`` epochs without a better validation
    accuracy (a lower validation cost when fit monitors the cost: regression targets);
    stop when η ≤ η₀ · ``min_ratio`` (the seeds' schedule)."""

    needs_validation = True

    def __init__(self, patience=10, factor=2.0, min_ratio=1.0 / 1024):
        _positive("patience", patience, integer=True)
        _positive("factor", factor)
        if factor <= 1:
            raise ValueError(f"factor={factor!r} is invalid; expected a number > 1")
        _positive("min_ratio", min_ratio, below_one=True)
        self.patience, self.factor, self.min_ratio = int(patience), float(factor), min_ratio

    def __repr__(self):
        return (f"HalveOnPlateau(patience={self.patience}, factor={self.factor}, "
                f"min_ratio={self.min_ratio})")

    def start(self, eta0):
        self.eta0, self.eta, self.best, self.waited = eta0, eta0, -math.inf, 0

    def after_epoch(self, epoch, history):
        # the accuracy, or minus the cost for regression targets (fit's ``monitor``)
        score = -history["evaluation_cost"][-1] if history.get("monitor") == "cost" \
            else history["evaluation_accuracy"][-1]
        if score > self.best:
            self.best, self.waited = score, 0
            return self.eta
        self.waited += 1
        if self.waited >= self.patience:
            self.eta /= self.factor
            self.waited = 0
            if self.eta <= self.eta0 * self.min_ratio * (1 + 1e-12):
                return None
        return self.eta


class StepDecay:
    """η = η₀ · gamma^⌊epoch / step_size⌋ (epochs counted from 0)."""

    needs_validation = False

    def __init__(self, step_size, gamma=0.5):
        _positive("step_size", step_size, integer=True)
        _positive("gamma", gamma)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def __repr__(self):
        return f"StepDecay(step_size={self.step_size}, gamma={self.gamma})"

    def start(self, eta0):
        self.eta0 = eta0

    def after_epoch(self, epoch, history):
        return self.eta0 * self.gamma ** ((epoch + 1) // self.step_size)


class ExponentialDecay:
    """η = η₀ · gamma^epoch (epochs counted from 0)."""

    needs_validation = False

    def __init__(self, gamma):
        _positive("gamma", gamma)
        self.gamma = float(gamma)

    def __repr__(self):
        return f"ExponentialDecay(gamma={self.gamma})"

    def start(self, eta0):
        self.eta0 = eta0

    def after_epoch(self, epoch, history):
        return self.eta0 * self.gamma ** (epoch + 1)
