"""Video for Reels, Stories and carousels (issue 12): probe, check, convert, cover.

Call ``ospost.media.jobs`` (``inspect_upload``, ``prepare_video``,
``make_cover``, ``configure``/``init_app``) and ``ospost.media.covers.
cover_from_upload``; all refuse with ``ospost.media.specs.VideoRejected``.
The other modules are the steps: ``specs`` (Meta's limits), ``probe`` (what a
file is), ``plan`` (refusals and changes), ``transcode`` (the PyAV pass),
``covers`` (cover pictures) and ``worker`` (the limited child process that
runs them).  Nothing is imported here: ``python -m ospost.media.worker`` must
not find its own module already loaded by the package.
"""
