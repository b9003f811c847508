"""The service's version, in a module of its own so any module may import it without importing the app."""

__version__ = "0.1.0"
