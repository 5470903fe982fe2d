"""The shared widget layer: one API for all six widgets, one picture per change, drawn right."""

import asyncio
import io
import json
import os
import sys
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from mnist_tutorial.data import TensorSplit
from mnist_tutorial.kernels import HORIZONTAL_EDGES
from mnist_tutorial.models import BlogNet
from mnist_tutorial.widgets import engine as widget_module
from mnist_tutorial.widgets.convolution_explorer import KernelPlayground, SlidingWindowStepper
from mnist_tutorial.widgets.digit_pad import DigitPad
from mnist_tutorial.widgets.engine import InteractiveFigure
from mnist_tutorial.widgets.feature_explorer import FeatureExplorer
from mnist_tutorial.widgets.padding_explorer import PaddingStrideExplorer
from mnist_tutorial.widgets.pooling_explorer import PoolingExplorer

CLASSES = [SlidingWindowStepper, KernelPlayground, PaddingStrideExplorer, PoolingExplorer,
           FeatureExplorer, DigitPad]
SEVEN = [[(80, 60), (200, 60), (120, 240)], [(100, 150), (180, 150)]]
ONE = [[(110, 90), (150, 50), (150, 240)]]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BlogNet().eval()


@pytest.fixture(scope="module")
def digits():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(40, 1, 28, 28, generator=generator)
    return TensorSplit(images, torch.arange(40) % 10)


def draw(pad: DigitPad, strokes) -> None:
    """Strokes through the mouse API, without predicting (``live=False``)."""
    pad.clear()
    for stroke in strokes:
        pad.begin_stroke(*stroke[0])
        for point in stroke[1:]:
            pad.extend_stroke(*point)
        pad.end_stroke()


def make(name: str, model, digits):
    """A widget of each kind and its most common move: (widget, change the picture, move back)."""
    if name == "stepper":
        stepper = SlidingWindowStepper(digits.images[0, 0, 5:11, 8:14], HORIZONTAL_EDGES,
                                       padding=1)
        slider = stepper.controls["step"]
        return stepper, lambda: setattr(slider, "value", 3), lambda: setattr(slider, "value", 0)
    if name == "playground":
        playground = KernelPlayground(digits.images[:10], digits.labels[:10], preset="sharpen")
        slider = playground.controls["index"]
        return playground, lambda: setattr(slider, "value", 4), lambda: setattr(slider, "value", 0)
    if name == "padding":
        explorer = PaddingStrideExplorer(size=7, kernel=3, padding=1)
        slider = explorer.controls["stride"]
        return explorer, lambda: setattr(slider, "value", 2), lambda: setattr(slider, "value", 1)
    if name == "pooling":
        explorer = PoolingExplorer(digits.images[0], size=2, cell=(7, 7))
        slider = explorer.controls["size"]
        return explorer, lambda: setattr(slider, "value", 3), lambda: setattr(slider, "value", 2)
    if name == "features":
        explorer = FeatureExplorer(model, digits)
        slider = explorer.controls["digit"]
        return explorer, lambda: setattr(slider, "value", 5), lambda: setattr(slider, "value", 0)
    pad = DigitPad(model, canvas=False, live=False)
    draw(pad, ONE)
    pad.controls["predict"].click()

    def predict(strokes):
        draw(pad, strokes)
        pad.controls["predict"].click()

    return pad, lambda: predict(SEVEN), lambda: predict(ONE)


NAMES = ["stepper", "playground", "padding", "pooling", "features", "pad"]


def picture_of(view: widgets.Widget) -> widgets.Image:
    (picture,) = [child for child in view.children if isinstance(child, widgets.Image)]
    return picture


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_widget_has_the_shared_api(cls):
    assert issubclass(cls, InteractiveFigure)
    for name in ("set", "plot", "png", "_ipython_display_"):
        assert callable(getattr(cls, name)), name
    for name in ("widget", "controls"):
        assert isinstance(getattr(cls, name), property), name
    assert cls.SETTINGS and all(isinstance(name, str) for name in cls.SETTINGS)
    # each class points to the one description
    assert "mnist_tutorial.widgets.engine" in cls.__doc__


@pytest.mark.parametrize("name", NAMES)
def test_a_control_change_sets_the_picture_once_and_keeps_the_figure(name, model, digits,
                                                                     monkeypatch):
    explorer, change, back = make(name, model, digits)
    view = explorer.widget
    assert view is explorer.widget and set(explorer.controls) <= set(explorer._controls)
    picture = picture_of(view)
    before, figure = bytes(picture.value), explorer._figure
    assert before.startswith(b"\x89PNG") and figure is not None
    assert plt.get_fignums() == []  # the kept figure is not pyplot's: never shown twice
    sets, encodings = [], []
    picture.observe(lambda update: sets.append(update["new"]), names="value")
    png = widget_module.figure_png
    monkeypatch.setattr(widget_module, "figure_png",
                        lambda *args, **kwargs: encodings.append(1) or png(*args, **kwargs))
    change()
    assert len(sets) == 1 and len(encodings) == 1  # one draw, one picture
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")
    assert explorer._figure is figure  # the same figure, its artists updated
    back()
    assert len(sets) == 2 and len(encodings) == 2
    assert explorer._figure is figure


@pytest.mark.parametrize("name", NAMES)
def test_the_redrawn_picture_is_the_whole_figure_drawn_again(name, model, digits):
    """Only the changing artists are redrawn onto a saved background: nothing may go stale."""
    explorer, change, _ = make(name, model, digits)
    picture = picture_of(explorer.widget)
    change()  # drawn onto the background kept from the first picture
    fast = pixels(bytes(picture.value))
    explorer._backgrounds.clear()  # the static part drawn again, from the artists as they are now
    assert np.array_equal(pixels(explorer.png()), fast)
    figure = explorer._figure
    for artist in explorer._dynamic(explorer._artists) or ():
        artist.set_animated(False)
    figure.canvas.draw()  # everything in the usual order: only a few pixels overlap differently
    whole = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(int)
    assert fast.shape == whole.shape and (np.abs(fast - whole).max(axis=2) > 40).mean() < 0.005


def test_a_kept_background_is_reused_only_where_it_is_right(digits):
    """Settings that share a background key share everything but the dynamic artists."""
    pooling = PoolingExplorer(digits.images[0], size=2, cell=(7, 7))
    padding = PaddingStrideExplorer(size=7, kernel=3, padding=1)
    moves = [(pooling, {"size": 3}), (pooling, {"size": 2}), (pooling, {"kind": "avg"}),
             (pooling, {"cell": (3, 4)}), (pooling, {"padding": 1}),
             (padding, {"stride": 2}), (padding, {"kernel": 2, "stride": 1}),
             (padding, {"size": 9}), (padding, {"kernel": 7, "size": 4})]
    for explorer, settings in moves:
        picture = picture_of(explorer.widget)
        explorer.set(**settings)
        fast = pixels(bytes(picture.value))
        kept = dict(explorer._backgrounds)
        explorer._backgrounds.clear()
        assert np.array_equal(pixels(explorer.png()), fast), settings
        explorer._backgrounds.update(kept)
    # pooling: by padding, 0 and 1; padding: by (size, padding), (7, 1), (9, 1), (4, 1)
    assert set(pooling._backgrounds) == {0, 1}
    assert set(padding._backgrounds) == {(7, 1), (9, 1), (4, 1)}


@pytest.mark.parametrize("name", NAMES)
def test_plots_are_titled_and_labelled(name, model, digits):
    explorer, change, _ = make(name, model, digits)
    change()
    figure = explorer.plot()
    assert figure.get_suptitle() and plt.fignum_exists(figure.number)  # a pyplot figure
    panels = [axes for axes in figure.axes
              if axes.get_visible() and axes.get_label() != "<colorbar>"]
    colour_bars = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
    assert all(axes.get_title() for axes in panels)
    assert sum(bool(axes.get_xlabel() and axes.get_ylabel()) for axes in panels) >= 1
    assert all(axes.get_ylabel() or axes.get_xlabel() for axes in colour_bars)
    assert explorer.plot() is not figure  # a new one each time


def test_settings_are_checked_before_anything_changes():
    explorer = PaddingStrideExplorer(size=7, kernel=3)
    picture = picture_of(explorer.widget)
    before = bytes(picture.value)
    with pytest.raises(ValueError, match="unknown setting 'dilation': choose from"):
        explorer.set(stride=2, dilation=2)
    with pytest.raises(ValueError, match="padding must be an integer"):
        explorer.set(stride=2, padding=-1)
    assert explorer.stride == 1 and bytes(picture.value) == before


def test_a_bad_value_from_a_control_is_reported_not_raised():
    explorer = PoolingExplorer(torch.arange(36.0).view(6, 6), size=2, cell=(2, 2))
    status = explorer.widget.children[-2]
    explorer._from_control(cell=(5, 5))  # what a stale slider could send
    assert "outside the pooled map" in status.value and "red" in status.value
    assert explorer.cell == (2, 2)
    explorer.controls["size"].value = 3  # the next good change clears the error
    assert "outside" not in status.value


def test_widgets_display_themselves(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objects: shown.extend(objects))
    explorer = PaddingStrideExplorer()
    explorer._ipython_display_()
    assert shown == [explorer.widget]


def test_the_figure_is_made_anew_only_when_its_panels_change(model, digits):
    explorer = FeatureExplorer(model, digits, layer="conv1")
    _ = explorer.widget
    figure = explorer._figure
    explorer.set(layer="pool1")  # 10 channels again, of 12x12: the same panels
    assert explorer._figure is figure
    explorer.controls["layer"].value = "conv2"  # 20 channels: new panels
    assert explorer._figure is not figure
    maps = [axes for axes in explorer._figure.axes if axes.get_title().startswith("channel")]
    assert len(maps) == 20
    picture = picture_of(explorer.widget)
    explorer.controls["layer"].value = "conv1"  # back to 10 channels: the first figure again
    assert explorer._figure is figure and bytes(picture.value) == explorer.png()
    maps = [axes for axes in figure.axes if axes.get_title().startswith("channel")]
    assert np.allclose(maps[3].images[0].get_array(), explorer.feature_maps[3].numpy())



# --- changes from the browser: coalesced, and the picture ends on the final value --------------
def two_steppers(digits):
    """A stepper with 36 steps, and a second one like it whose picture is the reference."""
    image = digits.images[0, 0, 5:11, 8:14]
    steppers = [SlidingWindowStepper(image, HORIZONTAL_EDGES, padding=1) for _ in range(2)]
    return [(stepper, picture_of(stepper.widget)) for stepper in steppers]


def send_from_browser(explorer, name, values, gap, monkeypatch):
    """Set control ``name`` to each value as a browser message would, ``gap`` seconds apart (0:
    back to back, as messages that queued during a drawing), and wait until it is drawn."""
    async def send():
        for value in values:
            explorer.controls[name].value = value
            if gap:
                await asyncio.sleep(gap)
        for _ in range(1000):
            if explorer._draw_timer is None:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the change from the browser was never drawn")

    with monkeypatch.context() as patch:
        patch.setattr(widget_module, "browser_event_loop", asyncio.get_running_loop)
        asyncio.run(send())


@pytest.mark.parametrize(("gap", "quiet"), [(0.0, 0.05), (0.002, 0.05), (0.02, 0.01)],
                         ids=["back to back", "stream", "spaced"])
def test_browser_changes_are_coalesced_and_end_on_the_final_value(gap, quiet, digits,
                                                                  monkeypatch):
    (stepper, picture), (reference, reference_picture) = two_steppers(digits)
    monkeypatch.setattr(widget_module, "QUIET_S", quiet)
    monkeypatch.setattr(widget_module, "LONGEST_WAIT_S", 10.0)
    pictures = []
    picture.observe(lambda change: pictures.append(change["new"]), names="value")
    send_from_browser(stepper, "step", range(1, 21), gap, monkeypatch)
    reference.controls["step"].value = 20  # set directly, by code: drawn at once
    assert stepper.step == 20 and bytes(picture.value) == bytes(reference_picture.value)
    if gap < quiet:
        assert len(pictures) == 1  # the 19 stale values were never drawn
    else:
        assert len(pictures) == 20  # each change had the time to be drawn


def test_a_steady_stream_is_drawn_while_it_lasts(digits, monkeypatch):
    (stepper, picture), (reference, reference_picture) = two_steppers(digits)
    monkeypatch.setattr(widget_module, "QUIET_S", 0.05)  # never quiet: changes every 2 ms...
    monkeypatch.setattr(widget_module, "LONGEST_WAIT_S", 0.01)  # ...but drawn every 10 ms
    pictures = []
    picture.observe(lambda change: pictures.append(bytes(change["new"])), names="value")
    send_from_browser(stepper, "step", range(1, 21), 0.002, monkeypatch)
    reference.controls["step"].value = 20
    assert 2 <= len(pictures) < 20 and pictures[-1] == bytes(reference_picture.value)


def test_a_change_by_code_draws_what_the_browser_changed(digits, monkeypatch):
    (stepper, picture), _ = two_steppers(digits)
    monkeypatch.setattr(widget_module, "browser_event_loop", asyncio.get_running_loop)
    pictures = []
    picture.observe(lambda change: pictures.append(change["new"]), names="value")

    async def browser_then_code():
        stepper.controls["step"].value = 5  # from the browser: not drawn yet
        assert pictures == [] and stepper.step == 5  # but stored at once
        monkeypatch.setattr(widget_module, "browser_event_loop", lambda: None)
        stepper.set(step=6)  # by code: drawn at once
        assert len(pictures) == 1
        while stepper._draw_timer is not None:
            await asyncio.sleep(0.01)

    asyncio.run(browser_then_code())
    assert len(pictures) == 1 and bytes(picture.value) == stepper.png()  # not drawn twice


def test_a_bad_value_from_the_browser_is_reported_when_drawn(monkeypatch):
    explorer = PoolingExplorer(torch.arange(36.0).view(6, 6), size=2, cell=(2, 2))
    status, picture = explorer.widget.children[-2], picture_of(explorer.widget)
    before = bytes(picture.value)
    monkeypatch.setattr(widget_module, "browser_event_loop", asyncio.get_running_loop)

    async def bad_value():
        explorer._from_control(cell=(5, 5))  # what a stale slider could send
        assert "outside" not in status.value  # not drawn yet
        while explorer._draw_timer is not None:
            await asyncio.sleep(0.01)

    asyncio.run(bad_value())
    assert "outside the pooled map" in status.value and explorer.cell == (2, 2)
    assert bytes(picture.value) == before


class FakeKernel:
    def __init__(self, msg_type):
        self.msg_type = msg_type

    def get_parent(self, channel):
        assert channel == "shell"
        return {"header": {"msg_type": self.msg_type}}


@pytest.mark.parametrize("msg_type", ["comm_msg", "execute_request", None])
def test_only_a_browser_message_is_drawn_on_the_event_loop(msg_type, monkeypatch):
    shell = type("Shell", (), {"kernel": FakeKernel(msg_type)})() if msg_type else None
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)

    async def inside_the_loop():
        return widget_module.browser_event_loop(), asyncio.get_running_loop()

    found, loop = asyncio.run(inside_the_loop())
    assert found is (loop if msg_type == "comm_msg" else None)
    assert widget_module.browser_event_loop() is None  # no running loop: drawn at once


# --- the same in a real kernel, with messages sent as Colab's widget manager sends them ----------
KERNEL_SETUP = """
import json, torch
from mnist_tutorial.kernels import HORIZONTAL_EDGES
from mnist_tutorial.widgets.convolution_explorer import SlidingWindowStepper
image = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
stepper, reference = (SlidingWindowStepper(image, HORIZONTAL_EDGES, padding=1) for _ in range(2))
pictures = []
stepper.widget.children[-1].observe(lambda change: pictures.append(1), names="value")
_ = reference.widget
print(json.dumps(stepper.controls["step"].model_id))
"""
KERNEL_DRAWN = "print(json.dumps(stepper._draw_timer is None and stepper._undrawn is None))"
KERNEL_CHECK = """
reference.set(step={final})
print(json.dumps([len(pictures), stepper.step, bytes(stepper.widget.children[-1].value)
                  == bytes(reference.widget.children[-1].value)]))
pictures.clear()
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel of this Python (ipykernel), and a function that runs code there: its JSON print."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    folder = tmp_path_factory.mktemp("kernels")
    (folder / "course").mkdir()
    (folder / "course" / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "course", "language": "python"}))
    manager = KernelManager(kernel_name="course",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))
    manager.start_kernel(env={**os.environ, "MPLBACKEND": "Agg"})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)

        def run(code):
            printed = []

            def output(message):
                if message["msg_type"] == "stream":
                    printed.append(message["content"]["text"])
                elif message["msg_type"] == "error":
                    printed.append("\n".join(message["content"]["traceback"]))

            reply = client.execute_interactive(code, output_hook=output, timeout=120)
            assert reply["content"]["status"] == "ok", "".join(printed)
            return json.loads("".join(printed))

        run.client = client
        yield run
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("gap", [0.0, 0.01], ids=["queued", "while drawing"])
def test_a_kernel_coalesces_a_burst_of_browser_messages(kernel, gap):
    """20 slider values sent without waiting for the kernel, as Colab's widget manager does
    (JupyterLab's waits for each to be handled): back to back, or 10 ms apart (a picture takes
    longer to draw). Stale values are skipped and the picture ends on the final one."""
    comm = kernel(KERNEL_SETUP)
    client = kernel.client
    for value in range(1, 21):
        client.shell_channel.send(client.session.msg("comm_msg", {
            "comm_id": comm, "data": {"method": "update", "state": {"value": value},
                                      "buffer_paths": []}}))
        time.sleep(gap)
    for _ in range(300):  # each run waits behind the messages, and lets a timer fire after
        if kernel(KERNEL_DRAWN):
            break
        time.sleep(0.1)
    pictures, step, same = kernel(KERNEL_CHECK.format(final=20))
    assert step == 20 and same, "the picture does not show the final value"
    assert 1 <= pictures < 20 and (gap or pictures <= 3), f"{pictures} pictures for 20 values"
