"""Decoding memory, measured: the worst file of each kind that the pixel caps
accept is processed in a fresh interpreter, and its peak RSS (VmHWM) must stay
within the estimate the decoding budget reserves for it.

Each file is small on the wire and large once decoded; the test builds them
with Pillow (nothing binary is committed).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ospost import images

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
CAP_PORTRAIT = (4472, 5590)  # 4:5, just under 25 megapixels
COLOUR = (200, 80, 40)

# Runs in a fresh interpreter: memory before and after processing one file.
MEASURE = """
import io, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ospost import decode_budget
from ospost import images

def status(name):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024

decode_budget.return_freed_memory_promptly()  # as the app does
data = Path(sys.argv[2]).read_bytes()
before = status("VmRSS")
images.process_upload(io.BytesIO(data))
print(json.dumps({"peak_delta": status("VmHWM") - before}))
"""


def save(im: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


WORST = {
    "palette-transparent-25mp": lambda: save(
        Image.new("P", CAP_PORTRAIT, 3), "PNG", transparency=3
    ),
    "rgba-25mp": lambda: save(Image.new("RGBA", CAP_PORTRAIT, (*COLOUR, 9)), "PNG"),
    "gray16-25mp": lambda: save(Image.new("I;16", CAP_PORTRAIT, 30000), "PNG"),
    "progressive444-jpeg-25mp": lambda: save(
        Image.new("RGB", CAP_PORTRAIT, COLOUR),
        "JPEG",
        progressive=True,
        subsampling="4:4:4",
    ),
    # The largest JPEG libjpeg can't decode at a reduced scale.
    "undrafted-jpeg-10mp": lambda: save(Image.new("RGB", (2878, 3597), COLOUR), "JPEG"),
    "lossless-webp-10mp": lambda: save(
        Image.new("RGB", (2828, 3535), COLOUR), "WEBP", lossless=True
    ),
    "heic-24mp": lambda: save(Image.new("RGB", (5712, 4284), COLOUR), "HEIF"),
}


def peak_delta(tmp_path: Path, data: bytes) -> int:
    """Peak RSS growth of processing `data` in a fresh interpreter, in bytes."""
    path = tmp_path / "upload"
    path.write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(ROOT), str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(out.stdout)["peak_delta"]


def test_palette_png_with_transparency_is_converted_without_a_full_size_copy(
    tmp_path,
):
    # Converting the whole 25 MP palette image to RGBA cost 217 MB; in bands it
    # is the 25 MB decode plus the output side.
    data = WORST["palette-transparent-25mp"]()
    assert len(data) < 50_000
    assert peak_delta(tmp_path, data) < 96 * MIB


@pytest.mark.parametrize("case", WORST, ids=list(WORST))
def test_the_worst_accepted_files_stay_within_their_reserved_memory(tmp_path, case):
    if case.startswith("heic") and not images.HEIF_SUPPORTED:
        pytest.skip("pillow-heif is not installed")
    data = WORST[case]()
    reserved = images.estimated_memory(io.BytesIO(data))
    # Each fits the default per-process budget (IMAGE_MEMORY_MB=256) alone.
    assert reserved <= 256 * MIB
    measured = peak_delta(tmp_path, data)
    assert measured <= reserved, f"{measured / MIB:.0f} > {reserved / MIB:.0f} MiB"
