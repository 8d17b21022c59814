"""The development kit: simulated source systems and benchmarks for the CRM warehouse.

It plugs its commands (``generate``, ``service-api``, ``bench``, ``demo``) into the
``crmwh`` command line through the ``crmwh.plugins`` entry point. The devkit may
import the runtime package ``crmwh``; the runtime never imports the devkit.
"""
