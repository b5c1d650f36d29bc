"""regwatch: a regulatory-watch daemon."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/regwatch/regwatch"
USER_AGENT = f"regwatch/{__version__} (+{PROJECT_URL})"
