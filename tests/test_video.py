"""The video pipeline (ospost.media): every refusal says why, every fix is real.

Clips are made with PyAV once per module (tests/videoclips.py): 320x568,
about 3 s, in the codecs and containers phones and browsers produce.  Outputs
are probed back and checked against Meta's Reels spec.  Conversions mostly
run in this process (``worker.run``) for speed; the child-process runner is
tested for its own promises: time limit, memory ceiling, concurrency bound,
progress, no leftover files.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from ospost import images
from ospost.media import covers
from ospost.media import jobs
from ospost.media import worker
from ospost.media.plan import check
from ospost.media.plan import make_plan
from ospost.media.probe import probe
from ospost.media.specs import VideoRejected
from ospost.media.specs import spec_for
from support import image_bytes
from videoclips import LOCATION
from videoclips import assert_instagram_ready
from videoclips import first_frame
from videoclips import make_clip
from videoclips import red_corner

PHONE_TAGS = {"location": LOCATION, "title": "Our secret garden"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "h264": make_clip(folder / "h264.mp4"),
        "hevc": make_clip(folder / "hevc.mp4", codec="libx265"),
        "vp9": make_clip(folder / "vp9.webm", codec="libvpx-vp9", audio="libopus"),
        "mpeg4": make_clip(folder / "mpeg4.avi", codec="mpeg4", audio="mp3"),
        "phone": make_clip(
            folder / "phone.mov", rotation=-90, metadata=PHONE_TAGS,
            sample_rate=44_100, layout="mono",
        ),
        "silent": make_clip(folder / "silent.mp4", audio=None),
        "vfr": make_clip(folder / "vfr.mp4", variable_rate=True),
        "wide": make_clip(folder / "wide.mp4", size=(568, 320)),
        "short": make_clip(folder / "short.mp4", seconds=2),
    }  # fmt: skip
    return made


def prepare(src: Path, tmp_path: Path, kind: str = "reel", **job) -> dict:
    """Convert in this process, as the child does; returns the child's result."""
    dst = tmp_path / f"{src.stem}.out.mp4"
    result = worker.run(
        {"op": "prepare", "src": str(src), "dst": str(dst), "kind": kind, **job}
    )
    result["path"] = dst
    return result


def refusal(src: Path, kind: str = "reel") -> VideoRejected:
    with pytest.raises(VideoRejected) as caught:
        check(probe(src), spec_for(kind))
    return caught.value


# --------------------------------------------------------------------- probing


def test_probe_reports_what_the_file_is(clips):
    info = probe(clips["phone"])
    assert (info.container, info.codec, info.profile) == ("MOV", "h264", "High")
    assert (info.width, info.height, info.rotation) == (568, 320, 270)
    assert info.display_size == (320, 568)
    assert info.fps == 30 and not info.variable_rate
    assert 3.1 < info.duration < 3.4
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == (
        "aac", 44_100, 1,
    )  # fmt: skip
    assert probe(clips["vp9"]).container == "WebM"
    assert probe(clips["mpeg4"]).container == "AVI"
    assert probe(clips["silent"]).audio is None


def test_probe_finds_a_variable_frame_rate(clips):
    info = probe(clips["vfr"])
    assert info.variable_rate
    assert 27 < info.fps < 30  # the average, not FFmpeg's base rate (100 here)


@pytest.mark.parametrize(
    ("content", "reason", "words"),
    [
        (b"", "empty", "empty"),
        (image_bytes(), "photo", "is a photo, not a video"),
        (b"just some text, renamed to .mp4\n" * 20, "not_video", "not a video"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200, "damaged", "damaged"),
    ],
)
def test_files_that_are_not_videos_are_refused(tmp_path, content, reason, words):
    path = tmp_path / "upload.mp4"  # the name says MP4; only the content counts
    path.write_bytes(content)
    with pytest.raises(VideoRejected) as caught:
        probe(path)
    assert caught.value.reason == reason
    assert words in caught.value.message


def test_sound_without_picture_is_refused(tmp_path):
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48_000, layout="stereo")
        for start in range(0, 48_000 * 3, 1024):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((2, 1024), np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48_000, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(VideoRejected) as caught:
        probe(path)
    assert caught.value.reason == "no_video"
    assert caught.value.message == "This file has sound but no picture. Upload a video."


def test_a_cut_off_upload_is_refused(clips, tmp_path):
    data = clips["h264"].read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])  # index at the end: never arrived
    with pytest.raises(VideoRejected) as caught:
        probe(path)
    assert caught.value.reason == "damaged"


def test_an_upload_over_the_limit_is_refused(clips, monkeypatch):
    monkeypatch.setattr("ospost.media.probe.MAX_UPLOAD_BYTES", 10_000)
    with pytest.raises(VideoRejected) as caught:
        probe(clips["h264"])
    assert caught.value.reason == "too_big"
    assert "the largest we accept is" in caught.value.message


def test_a_codec_we_cannot_decode_is_named():
    from ospost.media.probe import _check_decoder

    with pytest.raises(VideoRejected) as caught:
        _check_decoder("imaginary")
    assert caught.value.reason == "codec"
    assert caught.value.message == (
        "This video is encoded as imaginary, which we can't read. Export it as "
        "an H.264 MP4 and try again."
    )


# --------------------------------------------------------------------- limits


def test_too_short_for_every_kind(clips):
    for kind, label in (("reel", "a Reel"), ("story", "a Story")):
        error = refusal(clips["short"], kind)
        assert error.reason == "too_short"
        assert error.message == (
            f"This video is 2 s long; {label} must be at least 3 s."
        )


def test_too_long_says_the_limit(clips):
    info = dataclasses.replace(probe(clips["h264"]), duration=61.0)
    with pytest.raises(VideoRejected) as caught:
        check(info, spec_for("story"))
    assert caught.value.message == (
        "This video is 1 min 01 s long; a Story can be at most 1 min. "
        "Trim it and try again."
    )
    check(info, spec_for("reel"))  # a Reel may run 15 minutes
    with pytest.raises(VideoRejected, match="at most 15 min"):
        check(dataclasses.replace(info, duration=901.0), spec_for("reel"))


def test_unknown_kind_and_fit_are_programming_errors(clips):
    with pytest.raises(ValueError):
        spec_for("igtv")
    with pytest.raises(ValueError):
        make_plan(probe(clips["h264"]), spec_for("reel"), fit="stretch")


# --------------------------------------------------------------------- plans


def plan_for(info, kind="reel", fit="pad", **changes):
    return make_plan(dataclasses.replace(info, **changes), spec_for(kind), fit)


def test_frame_rate_rules(clips):
    info = probe(clips["h264"])
    assert plan_for(info).fps == 30 and plan_for(info).copy_video
    assert plan_for(info, fps=Fraction(120)).fps == 60
    assert plan_for(info, fps=Fraction(15)).fps == 30
    assert plan_for(info, fps=None).fps == 30
    vfr = plan_for(info, fps=Fraction(2928, 100), variable_rate=True)
    assert vfr.fps == Fraction(30000, 1001) and not vfr.copy_video
    assert plan_for(info, fps=Fraction(90), variable_rate=True).fps == 30


def test_shape_rules_for_a_landscape_4k_phone_video(clips):
    info = dataclasses.replace(probe(clips["h264"]), width=3840, height=2160)
    padded = plan_for(info)
    assert (padded.width, padded.height) == (1080, 1920)
    assert ("scale", "1080:608") in padded.filters
    assert ("pad", "1080:1920:(ow-iw)/2:(oh-ih)/2:black") in padded.filters
    cropped = plan_for(info, fit="crop")
    assert (cropped.width, cropped.height) == (1080, 1920)
    assert ("crop", "1216:2160") in cropped.filters
    # A carousel keeps 16:9 (it is within 4:5..16:9) and only scales it down.
    carousel = plan_for(info, kind="carousel")
    assert (carousel.width, carousel.height) == (1920, 1080)


def test_a_compliant_video_is_only_remuxed(clips):
    plan = plan_for(probe(clips["hevc"]))
    assert plan.copy_video and plan.audio == "copy"
    assert plan.changes == ("Removed location and other metadata.",)


def test_too_big_for_a_story_is_compressed_under_the_limit(clips):
    info = dataclasses.replace(probe(clips["h264"]), size=150_000_000, duration=40)
    plan = plan_for(info, kind="story")
    assert not plan.copy_video
    assert plan.max_bitrate < 100_000_000 * 8 / 40
    assert "Compressed the video to fit the limit for a Story." in plan.changes


# --------------------------------------------------------------------- fixes


@pytest.mark.parametrize("name", ["vp9", "mpeg4", "vfr", "silent", "phone"])
def test_every_fix_gives_an_instagram_ready_file(clips, tmp_path, name):
    result = prepare(clips[name], tmp_path)
    assert_instagram_ready(result["path"], encoded=name != "silent")
    output = probe(result["path"])
    assert output.display_size == (320, 568)
    assert abs(output.duration - probe(clips[name]).duration) < 0.25
    assert "Removed location and other metadata." in result["changes"]


def test_a_phone_video_is_turned_upright_and_loses_its_location(clips, tmp_path):
    assert red_corner(first_frame(clips["phone"])) == "bottom-left"  # as stored
    result = prepare(clips["phone"], tmp_path)
    assert red_corner(first_frame(result["path"])) == "top-left"
    assert "Turned the picture upright." in result["changes"]
    data = result["path"].read_bytes()
    assert LOCATION.encode() not in data and b"secret garden" not in data


def test_mono_44k_sound_becomes_48k_stereo_when_converting(clips, tmp_path):
    result = prepare(clips["phone"], tmp_path)
    audio = probe(result["path"]).audio
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 48_000, 2)
    assert "Converted the sound to AAC, 48 kHz stereo." in result["changes"]


def test_no_sound_gets_a_silent_track_and_the_picture_is_copied(clips, tmp_path):
    result = prepare(clips["silent"], tmp_path)
    assert result["copied"]
    assert result["changes"][0] == "Added a silent sound track."
    audio = probe(result["path"]).audio
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 48_000, 2)


def test_variable_frame_rate_becomes_constant(clips, tmp_path):
    result = prepare(clips["vfr"], tmp_path)
    output = probe(result["path"])
    assert not output.variable_rate and output.fps == Fraction(30000, 1001)


@pytest.mark.parametrize("name", ["h264", "hevc"])
def test_compliant_videos_are_copied_with_faststart(clips, tmp_path, name):
    result = prepare(clips[name], tmp_path)
    assert result["copied"]
    assert_instagram_ready(result["path"], encoded=False)
    assert probe(result["path"]).codec == probe(clips[name]).codec


@pytest.mark.parametrize(
    ("fit", "size", "change"),
    [("pad", (568, 1010), "Added black bars"), ("crop", (180, 320), "Cropped")],
)
def test_landscape_becomes_nine_sixteen(clips, tmp_path, fit, size, change):
    result = prepare(clips["wide"], tmp_path, fit=fit)
    output = probe(result["path"])
    assert (output.width, output.height) == size
    assert any(line.startswith(change) for line in result["changes"])
    assert_instagram_ready(result["path"])


def test_a_file_too_big_after_converting_is_refused(clips, tmp_path, monkeypatch):
    small = dataclasses.replace(spec_for("reel"), max_bytes=20_000)
    monkeypatch.setitem(worker.spec_for.__globals__["SPECS"], "reel", small)
    with pytest.raises(VideoRejected) as caught:
        prepare(clips["vp9"], tmp_path)
    assert caught.value.reason == "too_big"
    assert caught.value.message.startswith("Even converted, this video is")


def test_a_truncated_faststart_file_is_refused_not_posted_half(clips, tmp_path):
    good = prepare(clips["h264"], tmp_path)["path"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good[: int(len(good) * 0.6)])  # index first, media cut off
    with pytest.raises(VideoRejected) as caught:
        prepare(cut, tmp_path)
    assert caught.value.reason == "damaged"
    assert "could be read" in caught.value.message


# --------------------------------------------------------------------- covers


def test_cover_from_a_frame_is_upright_with_tile_and_strip(clips):
    cover = covers.cover_from_video(clips["phone"], 1500)
    assert 1450 <= cover.offset_ms <= 1550
    sizes = {}
    for name in ("poster", "tile", "strip"):
        with Image.open(io.BytesIO(getattr(cover, name))) as im:
            assert im.format == "JPEG" and not im.info.get("exif")
            sizes[name] = im.size
    assert sizes == {"poster": (320, 568), "tile": (480, 640), "strip": (240, 240)}
    with Image.open(io.BytesIO(cover.poster)) as im:
        assert red_corner(np.asarray(im.convert("RGB"))) == "top-left"


def test_cover_past_the_end_takes_the_last_frame(clips):
    cover = covers.cover_from_video(clips["h264"], 60_000)
    assert 3000 <= cover.offset_ms <= 3300


def test_an_uploaded_cover_goes_through_the_photo_checks():
    cover = covers.cover_from_upload(io.BytesIO(image_bytes(1080, 1920, "PNG")))
    with Image.open(io.BytesIO(cover.poster)) as im:
        assert (im.format, im.size) == ("JPEG", (1080, 1920))
    assert cover.offset_ms is None
    with pytest.raises(images.ImageRejected) as caught:
        covers.cover_from_upload(io.BytesIO(image_bytes(1080, 1350)))
    assert caught.value.message == (
        "The image's aspect ratio is 4:5 (0.80); a Reel cover must be 9:16 (0.56). "
        "Crop it and try again."
    )


# --------------------------------------------------------------------- the runner


def test_prepare_video_in_a_child_reports_progress_and_cleans_up(clips, tmp_path):
    seen: list[float] = []
    dst = tmp_path / "reel.mp4"
    done = jobs.prepare_video(
        clips["vp9"], dst, "reel", cover_ms=1000, progress=seen.append
    )
    assert done.path == dst and dst.stat().st_mode & 0o777 == 0o600
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert done.source.codec == "vp9" and done.output.codec == "h264"
    assert done.cover is not None and done.peak_rss_mb > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reel.mp4"]
    assert_instagram_ready(dst)


def test_inspect_upload_refuses_in_a_child(clips):
    assert jobs.inspect_upload(clips["h264"], "story").codec == "h264"
    with pytest.raises(VideoRejected) as caught:
        jobs.inspect_upload(clips["short"], "reel")
    assert (
        caught.value.message == "This video is 2 s long; a Reel must be at least 3 s."
    )


def test_the_time_limit_stops_the_child_and_leaves_nothing(clips, tmp_path):
    dst = tmp_path / "slow.mp4"
    started = time.monotonic()
    with pytest.raises(VideoRejected) as caught:
        jobs.prepare_video(
            clips["vp9"], dst, "reel", limits=jobs.Limits(time_limit=0.05)
        )
    assert time.monotonic() - started < 5
    assert caught.value.reason == "timeout" and not caught.value.retry
    assert caught.value.message.startswith("Converting this video took longer than")
    assert list(tmp_path.iterdir()) == []


def test_the_memory_ceiling_stops_the_child(clips, tmp_path):
    with pytest.raises(VideoRejected) as caught:
        jobs.prepare_video(
            clips["vp9"], tmp_path / "big.mp4", "reel", limits=jobs.Limits(memory_mb=40)
        )
    assert caught.value.reason == "memory"
    assert "needed more than 40 MB of memory" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_concurrency_is_bounded_by_the_slots(clips, tmp_path):
    with pytest.raises(ValueError):
        jobs.configure(slots=jobs.cpu_count() + 1)
    previous = jobs.SLOTS.size
    jobs.configure(slots=1)
    jobs.SLOTS.peak = 0
    moments: dict[int, list[float]] = {0: [], 1: []}

    def convert(n: int) -> None:
        jobs.prepare_video(
            clips["mpeg4"], tmp_path / f"{n}.mp4", "reel",
            progress=lambda _f: moments[n].append(time.monotonic()),
        )  # fmt: skip

    try:
        threads = [threading.Thread(target=convert, args=(n,)) for n in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        jobs.configure(slots=previous)
    assert jobs.SLOTS.peak == 1
    first, second = sorted(moments.values(), key=min)
    assert max(first) < min(second)  # the second child ran after the first
    assert (tmp_path / "0.mp4").is_file() and (tmp_path / "1.mp4").is_file()


def test_a_busy_converter_says_so(clips, tmp_path):
    previous = jobs.SLOTS.size
    jobs.configure(slots=1)
    assert jobs.SLOTS.acquire(0)
    try:
        with pytest.raises(VideoRejected) as caught:
            jobs.prepare_video(
                clips["h264"], tmp_path / "x.mp4", "reel",
                limits=jobs.Limits(slot_wait=0.1),
            )  # fmt: skip
    finally:
        jobs.SLOTS.release()
        jobs.configure(slots=previous)
    assert caught.value.reason == "busy" and caught.value.retry


def test_a_crashed_converter_is_reported_as_worth_retrying(caplog):
    with pytest.raises(VideoRejected) as caught:
        jobs._run({"op": "no-such-job"}, jobs.Limits(), None, None)
    assert caught.value.reason == "crashed" and caught.value.retry
    assert "The video converter stopped unexpectedly" in caught.value.message
    assert "KeyError" in caplog.text  # its last words are logged for the admin
