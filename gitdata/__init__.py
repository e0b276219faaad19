"""gitdata: version large data files inside ordinary Git."""

__version__ = "0.1.0"
