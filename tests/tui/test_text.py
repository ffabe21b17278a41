"""Untrusted text (samples, events) is made safe before it reaches the screen."""
from textual.content import Content

from workbench.engine.formats import loss_text
from workbench.tui.text import clean, one_line
from workbench.tui.widgets.loss_chart import Series
from workbench.tui.widgets.sample_panel import SampleView

NASTY = "line one\r\nline two\rthree \x1b[31mred\x1b[0m [bold]not bold[/bold] \x07bell\x00 \u202eevil\ttab"


def test_clean_removes_every_control_character_but_newline():
    text = clean(NASTY)
    assert "\r" not in text and "\x1b" not in text and "\x07" not in text and "\x00" not in text
    assert "\u202e" not in text and "\t" not in text
    assert text.startswith("line one\nline two\nthree ")
    assert "\u241b[31mred" in text  # ESC shown as its control picture, the rest kept
    assert "[bold]not bold[/bold]" in text  # markup is left as text by clean()


def test_one_line_flattens_and_cuts():
    assert "\n" not in one_line("a\nb\r\nc")
    assert len(one_line("x" * 500, 20)) == 20


def test_sample_view_shows_markup_and_escapes_as_text():
    view = SampleView({"step": 7, "text": NASTY, "prime": "[i]", "temperature": 1.0, "top_k": 5, "length": 9},
                      latest=True)
    content = view._content(True)
    assert isinstance(content, Content)
    assert "[bold]not bold[/bold]" in content.plain
    assert "\x1b" not in content.plain and "\r" not in content.plain
    assert "step 7" in content.plain and "prime \u201c[i]\u201d" in content.plain


def test_loss_text_units():
    assert loss_text(0.6931471805599453).startswith("0.6931 (1.000 bpc)")
    assert loss_text(0.6931471805599453, "bits").startswith("1.000 bpc")
    assert loss_text(None) == "-" and loss_text(float("nan")) == "-"


def downsample(xs, ys, limit):
    """A series' points averaged down to `limit`, as the chart draws them."""
    series = Series()
    for x, y in zip(xs, ys):
        series.append(x, y)
    return series.sampled(limit)


def smooth(ys, weight):
    """The reference: TensorBoard-style exponential moving average, debiased at the start."""
    if weight <= 0:
        return list(ys)
    out, last, norm = [], 0.0, 0.0
    for y in ys:
        last = weight * last + (1 - weight) * y
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out


def test_downsample_keeps_the_last_point_and_the_limit():
    xs = list(range(10_000))
    ys = [float(x) for x in xs]
    dx, dy = downsample(xs, ys, 300)
    assert len(dx) <= 300 and dx[-1] == 9999 and dy[-1] == 9999.0
    assert dx == sorted(dx)
    assert downsample([1, 2], [3, 4], 300) == ([1, 2], [3, 4])


def test_smoothing_is_debiased_and_off_at_zero():
    for ys, weight in (([2.0, 2.0, 2.0], 0.9), ([1.0, 5.0], 0.0)):
        series = Series()
        for i, y in enumerate(ys):
            series.append(float(i), y)
        series.set_smoothing(weight)
        assert series.sampled(300)[1] == smooth(ys, weight) == ([2.0, 2.0, 2.0] if weight else [1.0, 5.0])


def test_series_smoothing_and_buckets_match_the_plain_computation():
    series = Series()
    ys = [float((i * 7919) % 13) for i in range(1000)]
    for i, y in enumerate(ys):
        series.append(float(i), y)
    series.set_smoothing(0.9)
    _, smoothed = series.sampled(10_000)
    assert max(abs(a - b) for a, b in zip(smoothed, smooth(ys, 0.9))) < 1e-9
    series.append(1000.0, 5.0)  # points after the weight was set are smoothed as they come
    _, smoothed = series.sampled(10_000)
    assert abs(smoothed[-1] - smooth(ys + [5.0], 0.9)[-1]) < 1e-9
    x, y = series.sampled(50)
    assert len(x) <= 50 and x[-1] == 1000.0
