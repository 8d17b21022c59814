"""Imports: a user's own files landed in ``raw`` like a source (``crmwh import``)."""
