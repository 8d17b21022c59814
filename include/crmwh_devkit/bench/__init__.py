"""Benchmarks of the warehouse's steps, each runnable as ``python -m crmwh_devkit.bench.<name>``
(``extract_land`` is ``crmwh bench``); results are recorded under benchmarks/."""
