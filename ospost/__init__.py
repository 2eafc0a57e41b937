"""Ospost's product code: one module per concern (see the README's map).

``app.py`` at the top level builds the Flask app from these pieces;
``models.py`` and ``helpers.py`` stay beside it.
"""
