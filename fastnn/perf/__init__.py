"""Measuring the engine: the performance tools behind ``fastnn bench`` and ``fastnn profile``.

=========  ==============================================================================
bench      the benchmark ratios (engine against the NumPy matrix version on the same
           samples), the machine's peaks, and the regression gate against a baseline
baselines  the NumPy matrix-form implementation the ratios are measured against
profile    where an epoch's time goes, per layer and phase, against the FLOP model and the
           machine's measured peak (figures through ``fastnn.plot``)
=========  ==============================================================================

They reach the engine through ``Network.engine`` and the engine layer's front door
(``fastnn._engine``), never through private names.
"""
