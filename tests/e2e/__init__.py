"""End-to-end browser tests (a package: its conftest must not shadow tests/conftest)."""
