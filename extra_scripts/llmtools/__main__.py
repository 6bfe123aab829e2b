"""python -m llmtools {convert,inspect,download} ..."""
import sys

from .cli import main

sys.exit(main())
