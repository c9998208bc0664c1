"""Many cases at once: grids of models, sweeps into resumable folders and
where they run (processes, Dask), their tables, the re-check of many
certificates, the reproduction of the papers' claims, and the drift of laws
along simulated training.
"""
