"""wbseller: the Wildberries seller API platform, as a local server and a client."""

__version__ = "0.1.0"
