"""The nightly HTML report: :mod:`html` builds the page, :mod:`charts` draws its charts."""
