"""`python -m wbseller` (the test kit's WBServer starts the server so)."""

import gc

# The imports make many long-lived objects; collecting while they are made is wasted start-up time
# (about 0.25 s of CPU), so the collector waits, then those objects are moved out of its generations.
gc.disable()
from wbseller.cli import main  # noqa: E402

gc.freeze()
gc.enable()
main()
