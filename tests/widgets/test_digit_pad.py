"""The digit pad: strokes and uploads reach the network, empty pads and bad files give
messages."""

import datetime as dt
import io

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mnist_tutorial.preprocessing import to_mnist
from mnist_tutorial.widgets import digit_pad
from mnist_tutorial.widgets.digit_pad import DigitPad
from tests.helpers import trained_blog_net

SEVEN = [[(80, 60), (200, 60), (120, 240)], [(100, 150), (180, 150)]]


@pytest.fixture(scope="module")
def trained_model(mnist_root):
    return trained_blog_net()


# --- the pad --------------------------------------------------------------------------------------
def direct_prediction(model, image):
    """What the pad should say, computed without it."""
    with torch.no_grad():
        x = to_mnist(image)[None]
        return model(x).softmax(dim=1)[0], F.conv2d(x, model.conv1.weight, model.conv1.bias)[0]


def test_pad_strokes_reach_the_network(trained_model):
    pad = DigitPad(trained_model, canvas=False)
    probabilities = pad.draw_strokes(SEVEN)
    image = pad.image
    assert image.shape == (280, 280) and image.dtype == np.uint8
    assert image[60, 140] == 255 and image[150, 140] == 255 and image[270, 10] == 0
    # thick strokes: the top bar is about 20 pixels high
    assert np.sum(image[:, 140] == 255) >= pad.line_width
    expected, maps = direct_prediction(trained_model, image)
    assert np.allclose(probabilities, expected.numpy(), atol=1e-6)
    assert probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert pad.prediction == int(expected.argmax()) == 7
    assert torch.allclose(pad.feature_maps, maps, atol=1e-5)
    assert pad.steps["centred"].shape == (28, 28)
    assert "reads a 7" in pad.message
    figure = pad.plot()
    assert figure.axes and figure._suptitle.get_text() == pad.message
    steps = [axes for axes in figure.axes if axes.get_title()[:2] in {f"{n}." for n in range(1, 7)}]
    assert [axes.get_title() for axes in steps] == [
        f"{number}. {name}\n{image.shape[-2]} x {image.shape[-1]}"
        for number, (name, image) in enumerate(pad.steps.items(), start=1)]
    for axes, image in zip(steps, pad.steps.values()):
        assert np.array_equal(axes.images[0].get_array(), image.squeeze(0).numpy())
    bars = next(axes for axes in figure.axes if axes.get_ylabel() == "probability")
    assert np.allclose([bar.get_height() for bar in bars.patches], probabilities)
    plt.close(figure)


def test_empty_pad_gives_a_message_not_an_exception(trained_model):
    pad = DigitPad(trained_model, canvas=False)
    assert pad.predict() is None and pad.plot() is None
    assert "empty" in pad.message
    pad.draw_strokes(SEVEN)
    pad.clear()
    assert pad.predict() is None and pad.probabilities is None and "empty" in pad.message
    with pytest.raises(ValueError, match="at least one"):
        pad.draw_strokes([[]])
    assert pad.draw_strokes([[(140, 140)]]) is None  # one click: a dot, not a digit
    assert pad.message.startswith("Too little ink to be a digit")


def test_canvas_mouse_events_draw_and_predict_live(trained_model):
    pytest.importorskip("ipycanvas")
    pad = DigitPad(trained_model)
    widget = pad.widget
    assert pad.canvas in widget.children[0].children

    def send(event, x, y):  # what the browser sends when the mouse acts on the canvas
        pad.canvas._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])

    send("mouse_move", 10, 10)  # moving without the button down draws nothing
    assert not pad.strokes and pad.image.max() == 0
    send("mouse_down", 140, 40)
    for y in range(50, 250, 10):
        send("mouse_move", 140, y)
    assert pad.probabilities is None  # still drawing
    send("mouse_up", 140, 240)
    assert len(pad.strokes) == 1 and pad.strokes[0][0] == (140.0, 40.0)
    assert pad.image[150, 140] == 255
    assert pad.probabilities is not None  # live: predicted on mouse up
    expected, _ = direct_prediction(trained_model, pad.image)
    assert np.allclose(pad.probabilities, expected.numpy(), atol=1e-6)
    status, picture = widget.children[-2:]  # one figure: the steps, the prediction, the maps
    assert bytes(picture.value).startswith(b"\x89PNG") and picture.layout.display != "none"
    assert bytes(picture.value) == pad.png()
    assert status.value == pad.message
    pad.controls["clear"].click()
    assert picture.layout.display == "none" and not pad.strokes and pad.image.max() == 0
    assert "Cleared" in status.value


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploads_in_ipywidgets_7_and_8_formats(trained_model):
    paper = np.full((120, 90), 230, dtype=np.uint8)  # a photo: dark ink on light paper
    paper[20:100, 40:52] = 30
    content = png_bytes(paper)
    version_7 = {"one.png": {"metadata": {"name": "one.png", "type": "image/png"},
                             "content": content}}
    version_8 = ({"name": "one.png", "type": "image/png", "size": len(content),
                  "content": memoryview(content),
                  "last_modified": dt.datetime.now(dt.timezone.utc)},)
    assert digit_pad.uploaded_files(version_7) == [("one.png", content)]
    assert digit_pad.uploaded_files(version_8) == [("one.png", content)]
    assert np.array_equal(digit_pad.read_image(content), paper)
    expected, _ = direct_prediction(trained_model, paper)
    for value in (version_7, version_8):
        pad = DigitPad(trained_model, canvas=False)
        pad._on_upload({"new": value})
        assert np.allclose(pad.probabilities, expected.numpy(), atol=1e-6)
    pad = DigitPad(trained_model, canvas=False)
    # the real FileUpload, filled as the browser does (its value is read-only in ipywidgets 7)
    version = version_7 if ipywidgets.__version__.startswith("7") else version_8
    pad.controls["upload"].set_trait("value", version)
    assert np.allclose(pad.probabilities, expected.numpy(), atol=1e-6)
    pad = DigitPad(trained_model, canvas=False)
    pad.set(image=paper)  # the Python way to show a picture
    assert np.allclose(pad.probabilities, expected.numpy(), atol=1e-6)
    assert np.allclose(pad.image, paper / 255)  # an uploaded picture is kept as floats in [0, 1]
    pad.image = np.zeros((50, 50))
    assert pad.probabilities is None and "empty" in pad.message
    with pytest.raises(ValueError, match="2-D grey image"):
        pad.set(image=np.zeros((3, 50, 50)))


def test_a_file_that_is_not_an_image_gives_a_message(trained_model):
    pad = DigitPad(trained_model, canvas=False)
    pad._on_upload({"new": {"notes.txt": {"metadata": {}, "content": b"not an image"}}})
    assert "notes.txt" in pad.message and "could not read" in pad.message
    assert pad.probabilities is None
    with pytest.raises(ValueError, match="PNG or JPEG"):
        digit_pad.read_image(b"not an image")


def test_pad_rejects_a_tiny_size_and_an_unknown_layer(trained_model):
    with pytest.raises(ValueError, match="at least 28"):
        DigitPad(trained_model, size=10)
    with pytest.raises(ValueError, match="unknown layer 'fc1'"):
        DigitPad(trained_model, layer="fc1")
    pad = DigitPad(trained_model, canvas=False, layer="relu2")
    pad.draw_strokes(SEVEN)
    assert pad.feature_maps.shape == (20, 4, 4)
    with pytest.raises(ValueError, match="unknown layer 'fc2'"):
        pad.set(layer="fc2")
    pad.layer = "conv1"  # a setting: the maps of the drawn digit follow
    _, maps = direct_prediction(trained_model, pad.image)
    assert pad.layer == "conv1" and torch.allclose(pad.feature_maps, maps, atol=1e-5)
