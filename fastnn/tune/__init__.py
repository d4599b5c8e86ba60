"""Hyperparameter search: the seeds' step-by-step recipe, grid search and random search,
run as independent trials in-process or on a Dask cluster.

A *trial* is one short training run described by a JSON-able ``spec`` (the network's
arguments, ``fit``'s arguments, which subset of which dataset, the seed). ``run_trial``
turns a spec into a *record*: the arguments, the per-epoch history (with the training
cost before the first epoch), the validation accuracy, the seconds of training, and
whether the training cost fell every epoch. Trials are deterministic (one thread each,
seeded), so the same spec gives the same record on any worker.

Every finished trial is appended to a JSON-lines file (``TrialStore``) as soon as its
result arrives, and flushed to disk. Searches are deterministic functions of the
finished trials, so running the same search again with the same file skips every trial
already in it: an interrupted search resumes where it stopped.

Trials run on a ``Runner``: ``InProcessRunner`` (one after another, here) or
``DaskRunner`` (an embedded ``distributed.LocalCluster`` with one single-threaded worker
per core, or any cluster given by its scheduler address). A trial whose worker dies is
run again by Dask on another worker; the store still gets one record per trial.

The recipe (``recipe``), after the seeds' hyperparameter strategy:

1. simplify: a subset of the training data, a smaller validation set, optionally a
   smaller network, so a trial takes seconds;
2. threshold η: with λ = 0, the largest η whose training cost falls in every one of the
   first few epochs, over factors of 10 and then refined within the decade; use half;
3. λ: 0 first, then factors of 10, chosen on validation accuracy, then refined;
4. η again for the chosen λ (on validation accuracy); then the mini-batch size, chosen
   by the best validation accuracy reached within the same training time;
5. the final run on the full data with early stopping and the halving schedule, and the
   test accuracy, measured once, at the very end.
"""
from .runners import DaskRunner, InProcessRunner, make_runner
from .search import Search, Tuner, fmt, parse_space_value
from .trials import (
                     NETWORK_ARGS,
                     SCHEMA,
                     TrialStore,
                     TuneError,
                     make_spec,
                     run_trial,
                     searchable_fit_args,
                     trial_data,
                     trial_key,
)

__all__ = ["DaskRunner", "InProcessRunner", "make_runner", "Search", "Tuner", "fmt",
           "parse_space_value", "NETWORK_ARGS", "SCHEMA", "TrialStore", "TuneError",
           "make_spec", "run_trial", "searchable_fit_args", "trial_data", "trial_key"]
