"""Video for Reels, Stories and carousels (issue 12): probe, check, convert, cover."""
