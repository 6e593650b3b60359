import sys

from visionanything.cli import main

sys.exit(main())
