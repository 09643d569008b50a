"""The Render stage's animatic, video writer and job runner: frames that show the layout, MP4s that hold them.

Everything runs on the CPU in seconds: a 128×80 animatic of 13 frames of a layout where a car crosses the top
of the frame left to right while a violin moves right to left below it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from engine.errors import Cancelled, InputError
from engine.layout import FrameBox, VideoLayout
from engine.render import animatic as animatic_module
from engine.render.animatic import (
    FILL_ALPHA,
    OBJECT_COLOURS,
    AnimaticGenerator,
    backdrop,
    caption_at,
    counter_text,
    draw_subtitle,
    load_font,
    object_colour,
)
from engine.render.run import GENERATION_SHARE, make_request, render_video
from engine.render.video import (
    H264_ENCODERS,
    h264_encoder,
    overlay_boxes,
    probe_video,
    write_mp4,
    write_png_frames,
)

WIDTH, HEIGHT = 128, 80
N_FRAMES = 13  # keyframes at 0, D/2, D fall on frames 0, 6 and 12
FPS = 8.0
VIDEO_S = N_FRAMES / FPS
DURATION_S = 1.5
CANVAS = (454, 256)

# Canvas boxes per keyframe (x0, y0, x1, y1): the car along the top, the violin lower down, both moving.
CAR = [(20.0, 40.0, 100.0, 100.0), (180.0, 40.0, 260.0, 100.0), (340.0, 40.0, 420.0, 100.0)]
VIOLIN = [(360.0, 120.0, 420.0, 150.0), (200.0, 120.0, 260.0, 150.0), (40.0, 120.0, 100.0, 150.0)]
CAPTIONS = ["The car enters.", "The car passes the violin.", ""]
VIDEO_CAPTION = "A car drives past a violinist."

# Rows below every box: only the subtitle is drawn there.
SUBTITLE_ROWS = slice(52, HEIGHT)


def make_layout() -> VideoLayout:
    keyframes = [
        {"time_s": DURATION_S * k / 2, "caption": CAPTIONS[k],
         "objects": [{"id": 0, "name": "car", "box": list(CAR[k])},
                     {"id": 1, "name": "violin", "box": list(VIOLIN[k])}]}
        for k in range(3)
    ]
    return VideoLayout.model_validate({"duration_s": DURATION_S, "video_caption": VIDEO_CAPTION,
                                       "keyframes": keyframes})


def expected_box(track: list[tuple[float, ...]], frame: int) -> tuple[float, float, float, float]:
    """The box of ``track`` at ``frame`` in render pixels, worked out here from the keyframes by hand."""
    position = frame / (N_FRAMES - 1) * 2  # keyframe index, fractional between keyframes
    k = min(int(position), 1)
    w = position - k
    box = [(1 - w) * a + w * b for a, b in zip(track[k], track[k + 1], strict=True)]
    sx, sy = WIDTH / CANVAS[0], HEIGHT / CANVAS[1]
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def blend(background: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    alpha = round(255 * FILL_ALPHA) / 255
    return background.astype(float) * (1 - alpha) + np.asarray(colour, float) * alpha


def fill_mask(frame: np.ndarray, colour: tuple[int, int, int], tolerance: float = 3.0) -> np.ndarray:
    """Pixels whose colour is ``colour``'s translucent fill over the backdrop."""
    expected = blend(backdrop(WIDTH, HEIGHT), colour)
    return np.abs(frame.astype(float) - expected).max(axis=-1) <= tolerance


@pytest.fixture(scope="module")
def request_() -> Any:
    return make_request(make_layout(), fps=FPS, frames=N_FRAMES, size=(WIDTH, HEIGHT))


@pytest.fixture(scope="module")
def frames(request_: Any) -> np.ndarray:
    return AnimaticGenerator().render(request_)


def tone_wav(path: Path, seconds: float, rate: int = 44100, silent_until_s: float = 0.0) -> Path:
    """A stereo 440 Hz tone (amplitude 0.5), silent before ``silent_until_s``."""
    t = np.arange(round(seconds * rate)) / rate
    signal = 0.5 * np.sin(2 * np.pi * 440.0 * t) * (t >= silent_until_s)
    sf.write(path, np.stack([signal, 0.8 * signal], axis=1).astype(np.float32), rate)
    return path


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream of ``path`` as (n,) float mono and its rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        parts = [frame.to_ndarray().mean(axis=0) for frame in container.decode(stream)]
        return np.concatenate(parts), stream.codec_context.sample_rate


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))


def decoded_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


# ---------------------------------------------------------------------------------------------- request


def test_make_request_counts_frames_from_the_duration_unless_given() -> None:
    layout = make_layout()
    assert make_request(layout, fps=8).n_frames == round(DURATION_S * 8)
    assert make_request(layout, fps=24).n_frames == round(DURATION_S * 24)
    request = make_request(layout, fps=8, frames=5, size=(64, 64), seed=3, steps=2, guidance=1.5,
                           negative="ugly", prompt_suffix="film still", options={"grounding": "off"})
    assert (request.n_frames, request.size, request.seed, request.steps) == (5, (64, 64), 3, 2)
    assert (request.guidance_scale, request.negative_prompt, request.prompt_suffix) == (1.5, "ugly", "film still")
    assert request.options == {"grounding": "off"}
    with pytest.raises(InputError, match="frames"):
        make_request(layout, frames=0)
    with pytest.raises(InputError, match="frame rate"):
        make_request(layout, fps=0)


# ---------------------------------------------------------------------------------------------- animatic


def test_animatic_shape_and_palette(frames: np.ndarray) -> None:
    assert frames.shape == (N_FRAMES, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    assert len(set(OBJECT_COLOURS)) == len(OBJECT_COLOURS)
    assert object_colour(0) != object_colour(1)
    assert object_colour(len(OBJECT_COLOURS)) == object_colour(0)


def test_each_box_shows_its_objects_colour_at_keyframes(request_: Any, frames: np.ndarray) -> None:
    scene = backdrop(WIDTH, HEIGHT)
    for k, frame_index in enumerate(request_.keyframe_frames()):
        assert frame_index == 6 * k
        frame = frames[frame_index]
        for object_id, track in ((0, CAR), (1, VIOLIN)):
            x0, y0, x1, y1 = expected_box(track, frame_index)
            cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
            inside = frame[cy, cx].astype(float)
            # The fill is the object's colour, translucent over the scene: never another object's colour.
            assert np.abs(inside - blend(scene[cy, cx], object_colour(object_id))).max() <= 3
            other = object_colour(1 - object_id)
            assert np.abs(inside - blend(scene[cy, cx], other)).max() > 20
            # Just right of the box, nothing is drawn: the plain scene.
            outside_x = min(WIDTH - 1, int(np.ceil(x1)) + 2) if object_id == 0 else max(0, int(x0) - 3)
            assert np.array_equal(frame[cy, outside_x], scene[cy, outside_x])
            assert np.abs(frame[cy, outside_x].astype(float) - inside).max() > 20


def test_boxes_move_as_the_layout_says(frames: np.ndarray) -> None:
    centres: dict[int, list[float]] = {0: [], 1: []}
    for frame_index in (0, 3, 6, 9, 12):  # keyframes and interpolated frames between them
        for object_id, track in ((0, CAR), (1, VIOLIN)):
            mask = fill_mask(frames[frame_index], object_colour(object_id))
            ys, xs = np.nonzero(mask)
            assert xs.size > 20, (frame_index, object_id)
            x0, y0, x1, y1 = expected_box(track, frame_index)
            # The fill lies inside the outline: within the box, touching it up to the outline's width.
            assert x0 - 1 <= xs.min() <= x0 + 2 and x1 - 3 <= xs.max() <= x1, (frame_index, object_id)
            assert y0 - 1 <= ys.min() <= y0 + 2 and y1 - 3 <= ys.max() <= y1, (frame_index, object_id)
            centres[object_id].append((xs.min() + xs.max()) / 2)
    assert np.all(np.diff(centres[0]) > 5), "the car should move right"
    assert np.all(np.diff(centres[1]) < -5), "the violin should move left"


def test_subtitle_follows_the_keyframe_segments(frames: np.ndarray) -> None:
    def strip(i: int) -> np.ndarray:
        return frames[i, SUBTITLE_ROWS]

    plain = backdrop(WIDTH, HEIGHT)[SUBTITLE_ROWS]
    assert not np.array_equal(strip(0), plain), "a subtitle is drawn"
    assert np.array_equal(strip(0), strip(5)), "one caption through the first segment"
    assert not np.array_equal(strip(5), strip(6)), "the caption changes at the second keyframe"
    assert np.array_equal(strip(6), strip(11))
    # The last keyframe has no caption: the video caption is shown.
    with_video_caption = Image.fromarray(backdrop(WIDTH, HEIGHT))
    draw_subtitle(with_video_caption, VIDEO_CAPTION)
    assert np.array_equal(strip(12), np.asarray(with_video_caption)[SUBTITLE_ROWS])
    assert not np.array_equal(strip(11), strip(12))


def test_caption_at_picks_the_keyframe_at_or_before() -> None:
    layout = make_layout()
    assert caption_at(layout, 0.0) == CAPTIONS[0]
    assert caption_at(layout, 0.7) == CAPTIONS[0]
    assert caption_at(layout, 0.75) == CAPTIONS[1]
    assert caption_at(layout, 1.5) == VIDEO_CAPTION  # an empty caption falls back to the video's
    late_start = layout.replaced(keyframes=layout.keyframes[1:])
    assert caption_at(late_start, 0.1) == VIDEO_CAPTION  # before the first keyframe


def test_frame_counter_in_the_top_right_corner(frames: np.ndarray) -> None:
    assert counter_text(11, 64, 1.5) == "frame 12/64 · 1.50 s"
    corner = (slice(0, 10), slice(WIDTH // 2, WIDTH))
    plain = backdrop(WIDTH, HEIGHT)[corner]
    assert not np.array_equal(frames[0][corner], plain)
    assert not np.array_equal(frames[0][corner], frames[1][corner]), "the counter changes every frame"


def test_progress_reaches_one_and_previews_are_sparse(request_: Any) -> None:
    fractions: list[float] = []
    previews: list[tuple[int, np.ndarray]] = []
    AnimaticGenerator().render(request_, progress=fractions.append,
                               preview=lambda i, f: previews.append((i, f.copy())))
    assert len(fractions) == N_FRAMES and fractions[-1] == 1.0
    assert all(b > a for a, b in itertools.pairwise(fractions))
    assert 2 <= len(previews) <= 11
    last_index, last_frames = previews[-1]
    assert last_index == N_FRAMES - 1 and last_frames.shape == (N_FRAMES, HEIGHT, WIDTH, 3)
    assert all(f.shape[0] == i + 1 for i, f in previews)


def test_cancel_stops_within_one_frame(request_: Any) -> None:
    drawn: list[float] = []
    cancel_after = 4

    with pytest.raises(Cancelled):
        AnimaticGenerator().render(request_, progress=drawn.append, is_cancelled=lambda: len(drawn) >= cancel_after)
    assert len(drawn) == cancel_after


def test_without_dejavu_the_builtin_font_draws(request_: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(animatic_module, "_FONT_FILES", {False: ("/nonexistent/a.ttf",), True: ("/nonexistent/b.ttf",)})
    load_font.cache_clear()
    try:
        frames = AnimaticGenerator().render(request_)
        assert not np.array_equal(frames[0, SUBTITLE_ROWS], backdrop(WIDTH, HEIGHT)[SUBTITLE_ROWS])
    finally:
        monkeypatch.undo()
        load_font.cache_clear()


# ---------------------------------------------------------------------------------------------- MP4


def test_an_h264_encoder_is_found() -> None:
    assert h264_encoder() in H264_ENCODERS


@pytest.mark.parametrize("wav_s", [0.5, 4.0], ids=["shorter-padded", "longer-trimmed"])
def test_mp4_has_the_frames_rate_codec_and_sound_of_the_video(frames: np.ndarray, tmp_path: Path,
                                                              wav_s: float) -> None:
    wav = tone_wav(tmp_path / "tone.wav", wav_s)
    out = write_mp4(frames, FPS, tmp_path / "out.mp4", audio_path=wav)
    info = probe_video(out)
    assert info["frames"] == N_FRAMES
    assert info["fps"] == FPS
    assert (info["codec"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert (info["width"], info["height"]) == (WIDTH, HEIGHT)
    assert info["audio_codec"] == "aac"
    samples, rate = decoded_audio(out)
    assert abs(info["audio_duration_s"] - VIDEO_S) <= 1024 / rate
    assert rms(samples[: int(0.4 * rate)]) > 0.1, "the recording's sound is in the video"
    tail = samples[int(0.9 * rate): int((VIDEO_S - 0.1) * rate)]
    if wav_s < VIDEO_S:
        assert rms(tail) < 0.01, "past the recording's end the video is silent"
    else:
        assert rms(tail) > 0.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "tone.wav"], "no temporary file is left"


def test_mp4_frames_look_like_the_input(frames: np.ndarray, tmp_path: Path) -> None:
    out = write_mp4(frames, FPS, tmp_path / "out.mp4")
    decoded = decoded_frames(out)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(float) - frames.astype(float)).mean() < 4
    assert probe_video(out)["audio_duration_s"] is None


def test_audio_start_skips_into_the_recording(frames: np.ndarray, tmp_path: Path) -> None:
    wav = tone_wav(tmp_path / "late.wav", 4.0, rate=22050, silent_until_s=1.0)
    samples, rate = decoded_audio(write_mp4(frames, FPS, tmp_path / "a.mp4", audio_path=wav))
    assert rms(samples[int(0.1 * rate): int(0.8 * rate)]) < 0.01
    samples, rate = decoded_audio(write_mp4(frames, FPS, tmp_path / "b.mp4", audio_path=wav, audio_start_s=1.0))
    assert rms(samples[int(0.1 * rate): int(0.8 * rate)]) > 0.1
    with pytest.raises(InputError, match="past the end"):
        write_mp4(frames, FPS, tmp_path / "c.mp4", audio_path=wav, audio_start_s=10.0)
    assert not (tmp_path / "c.mp4").exists()


def test_odd_sizes_are_padded_to_even(frames: np.ndarray, tmp_path: Path) -> None:
    odd = np.ascontiguousarray(frames[:, : HEIGHT - 1, : WIDTH - 1])
    info = probe_video(write_mp4(odd, 12.0, tmp_path / "odd.mp4"))
    assert (info["width"], info["height"], info["frames"], info["fps"]) == (WIDTH, HEIGHT, N_FRAMES, 12.0)


def test_cancelled_or_failed_write_leaves_no_file(frames: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(Cancelled):
        write_mp4(frames, FPS, out, is_cancelled=lambda: True)
    assert list(tmp_path.iterdir()) == []

    def fail_midway(fraction: float) -> None:
        if fraction > 0.5:
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        write_mp4(frames, FPS, out, progress=fail_midway)
    assert list(tmp_path.iterdir()) == []

    # A cancelled write over an earlier video keeps the earlier video whole.
    write_mp4(frames[:3], FPS, out)
    before = out.read_bytes()
    with pytest.raises(Cancelled):
        write_mp4(frames, FPS, out, is_cancelled=lambda: True)
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_bad_inputs_are_refused_with_one_line(frames: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        write_mp4(frames, FPS, tmp_path / "x.mp4", audio_path=tmp_path / "missing.wav")
    with pytest.raises(InputError, match="frame rate"):
        write_mp4(frames, 0, tmp_path / "x.mp4")
    with pytest.raises(InputError, match="folder"):
        write_mp4(frames, FPS, tmp_path)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        write_mp4(frames[0], FPS, tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="no such file"):
        probe_video(tmp_path / "nothing.mp4")


# ---------------------------------------------------------------------------------------------- PNG, overlay


def test_png_frames_are_written_one_per_frame(frames: np.ndarray, tmp_path: Path) -> None:
    (tmp_path / "clip_0020.png").write_bytes(b"left over from a longer render")
    (tmp_path / "notes.txt").write_text("keep me")
    paths = write_png_frames(frames, tmp_path, "clip")
    assert [p.name for p in paths] == [f"clip_{i:04d}.png" for i in range(N_FRAMES)]
    assert sorted(p.name for p in tmp_path.glob("clip_*.png")) == [p.name for p in paths]
    assert (tmp_path / "notes.txt").exists()
    assert np.array_equal(np.asarray(Image.open(paths[7])), frames[7])


def test_overlay_draws_the_boxes_on_given_frames() -> None:
    grey = np.full((4, HEIGHT, WIDTH, 3), 90, np.uint8)
    boxes = [[FrameBox(2, "dog", (10.0 + 10 * i, 30.0, 50.0 + 10 * i, 60.0), True)] for i in range(4)]
    out = overlay_boxes(grey, boxes)
    assert out.shape == grey.shape and np.all(grey == 90), "the input is left as it was"
    for i in range(4):
        cx = 30 + 10 * i
        assert np.abs(out[i, 45, cx].astype(float) - blend(np.full(3, 90), object_colour(2))).max() <= 3
        assert np.array_equal(out[i, 45, 70 + 10 * i], [90, 90, 90])
    with pytest.raises(ValueError, match="one per frame"):
        overlay_boxes(grey, boxes[:2])


# ---------------------------------------------------------------------------------------------- job


def test_render_video_writes_everything_and_reports_progress(request_: Any, tmp_path: Path) -> None:
    wav = tone_wav(tmp_path / "rec.wav", 3.0)
    fractions: list[float] = []
    previews: list[int] = []
    summary = render_video(request_, AnimaticGenerator(), tmp_path / "out" / "clip.mp4", audio_path=wav,
                           png_dir=tmp_path / "png", overlay_path=tmp_path / "out" / "clip-boxes.mp4",
                           progress=fractions.append, preview=lambda i, f: previews.append(i))
    assert fractions[-1] == 1.0 and all(b >= a for a, b in itertools.pairwise(fractions))
    assert any(abs(f - GENERATION_SHARE) < 1e-9 for f in fractions), "generation ends at its share"
    assert previews and previews[-1] == N_FRAMES - 1
    assert summary["frames"] == N_FRAMES and summary["generator"] == "animatic"
    assert summary["png_files"] == N_FRAMES and len(list((tmp_path / "png").glob("clip_*.png"))) == N_FRAMES
    assert set(summary["seconds"]) == {"generate", "encode", "overlay", "png", "total"}
    for key in ("out", "overlay"):
        info = probe_video(summary[key])
        assert (info["frames"], info["codec"], info["audio_codec"]) == (N_FRAMES, "h264", "aac")
    plain, checked = decoded_frames(Path(summary["out"])), decoded_frames(Path(summary["overlay"]))
    assert np.abs(plain.astype(float) - checked.astype(float)).mean() > 1, "the overlay adds boxes"


def test_render_video_checks_the_recording_first_and_leaves_nothing_when_cancelled(request_: Any,
                                                                                   tmp_path: Path) -> None:
    calls: list[int] = []

    class CountingGenerator(AnimaticGenerator):
        def render(self, *args: Any, **kwargs: Any) -> np.ndarray:
            calls.append(1)
            return super().render(*args, **kwargs)

    with pytest.raises(InputError, match="no such file"):
        render_video(request_, CountingGenerator(), tmp_path / "x.mp4", audio_path=tmp_path / "none.wav")
    assert calls == [], "a bad recording fails before generation"

    fractions: list[float] = []
    with pytest.raises(Cancelled):
        render_video(request_, AnimaticGenerator(), tmp_path / "x.mp4", progress=fractions.append,
                     is_cancelled=lambda: bool(fractions) and fractions[-1] >= 0.95)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="same file"):
        render_video(request_, AnimaticGenerator(), tmp_path / "x.mp4", overlay_path=tmp_path / "x.mp4")
