"""Your own systems mapped onto the source contract by one YAML file (CRM_SOURCES_FILE).

:mod:`crmwh.mapping.model` reads and checks the file (``model.load(cfg)``; its ``sources``
are the sources the file lists), :mod:`crmwh.mapping.convert` converts delivered
records, :mod:`crmwh.mapping.times` reads dates and timestamps in their format and zone.
The default mapping, ``default.yml``, is the simulators'.
"""
