"""fixedsite: supervisory control for unattended mine fixed installations."""

__version__ = "0.1.0"
