"""`python -m decoders [--check] docs/decoders.md`: regenerate the decoder list in the docs."""

import sys

from decoders.catalogue import main

sys.exit(main())
