import sys

from fixedsite.cli import main

sys.exit(main())
