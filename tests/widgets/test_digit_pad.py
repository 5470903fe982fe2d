"""The digit pad: strokes and uploads reach the network, empty pads and bad files give
messages."""

import base64
import importlib.resources
import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mnist_tutorial.preprocessing import to_mnist
from mnist_tutorial.widgets import digit_pad
from mnist_tutorial.widgets.digit_pad import DigitPad
from tests.helpers import FUNCTIONAL_LAYERS, FunctionalNet, functional_by_hand, trained_blog_net

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


def from_browser(surface, content):
    """Deliver ``content`` to the surface as the browser's ``model.send(content)`` does: a comm
    message with the method "custom"."""
    surface._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                         "buffers": []})


def browser_stroke(points):
    """A finished stroke as digit_pad.js sends it: [x, y] lists in pad pixels."""
    return {"type": "stroke", "points": [list(point) for point in points]}


def status_of(pad):
    return pad.widget.children[-2].value


def test_strokes_from_the_browser_draw_what_draw_strokes_draws(trained_model):
    by_python = DigitPad(trained_model, canvas=False)
    by_python.draw_strokes(SEVEN)
    pad = DigitPad(trained_model)
    widget, surface = pad.widget, pad.controls["pad"]
    assert isinstance(surface, digit_pad.PadSurface) and surface.drawing
    assert surface in widget.children[0].children
    assert (surface.size, surface.line_width) == (pad.size, pad.line_width) == (280, 20)
    from_browser(surface, browser_stroke(SEVEN[0]))
    assert pad.probabilities is not None  # live: read as soon as a stroke ends
    assert surface.strokes == [[list(point) for point in SEVEN[0]]]  # back to every view
    from_browser(surface, browser_stroke(SEVEN[1]))
    assert np.array_equal(pad.image, by_python.image)  # the same pixels from the same points
    assert pad.strokes == by_python.strokes == [[(float(x), float(y)) for x, y in stroke]
                                                for stroke in SEVEN]
    assert np.allclose(pad.probabilities, by_python.probabilities, atol=1e-6)
    assert pad.prediction == 7
    status, picture = widget.children[-2:]  # one figure: the steps, the prediction, the maps
    assert status.value == pad.message and "reads a 7" in status.value
    assert bytes(picture.value).startswith(b"\x89PNG") and picture.layout.display != "none"
    assert bytes(picture.value) == pad.png()
    pad.controls["clear"].click()
    assert picture.layout.display == "none" and not pad.strokes and pad.image.max() == 0
    assert surface.strokes == [] and "Cleared" in status.value


def test_the_python_pen_and_browser_fractions_draw_alike(trained_model):
    stroke = [(140.5, 40.2), (140.5, 120.7), (139.9, 240.1)]  # what the browser rounds to
    pen = DigitPad(trained_model, live=False)
    pen.begin_stroke(*stroke[0])
    for point in stroke[1:]:
        pen.extend_stroke(*point)
    assert pen.image.max() == 0 and not pen.strokes  # drawn when the stroke ends
    pen.end_stroke()
    pad = DigitPad(trained_model, live=False)
    from_browser(pad.controls["pad"], browser_stroke(stroke))
    assert np.array_equal(pen.image, pad.image) and pad.image[150, 140] == 255
    assert pad.probabilities is None  # not live: waits for Predict
    assert pad.controls["pad"].strokes == [[list(point) for point in stroke]]
    pad.controls["predict"].click()
    expected, _ = direct_prediction(trained_model, pad.image)
    assert np.allclose(pad.probabilities, expected.numpy(), atol=1e-6)
    assert status_of(pad) == pad.message


@pytest.mark.parametrize("points, error", [
    ("a seven", "a list of (x, y) points"),
    ([[10, 20, 30]], "a list of (x, y) points"),
    (None, "a list of (x, y) points"),
    ([], "at least one"),
    ([[10, float("nan")]], "finite"),
])
def test_a_malformed_stroke_is_reported_in_the_widget(trained_model, points, error):
    pad = DigitPad(trained_model)
    surface = pad.controls["pad"]
    from_browser(surface, browser_stroke(SEVEN[0]))
    before = (pad.image, pad.probabilities, status_of(pad))
    sent = []
    surface.send_state = lambda key=None: sent.append(key)
    from_browser(surface, {"type": "stroke", "points": points})  # no exception
    assert error in status_of(pad) and 'color:red' in status_of(pad)
    assert np.array_equal(pad.image, before[0]) and len(pad.strokes) == 1
    assert pad.probabilities is before[1]  # the last prediction stays
    assert sent == ["strokes"]  # the browser is told to show what Python holds
    from_browser(surface, browser_stroke(SEVEN[1]))  # a good stroke clears the error
    assert status_of(pad) == pad.message and "reads a 7" in pad.message


def test_an_unknown_message_is_reported_in_the_widget(trained_model):
    pad = DigitPad(trained_model)
    from_browser(pad.controls["pad"], {"type": "wave"})
    assert "cannot read ('wave')" in status_of(pad) and not pad.strokes


def test_the_surface_ships_its_javascript_and_speaks_pythons_messages():
    widgets_package = importlib.resources.files("mnist_tutorial.widgets")
    script = (widgets_package / "digit_pad.js").read_text(encoding="utf-8")
    style = (widgets_package / "digit_pad.css").read_text(encoding="utf-8")
    surface = digit_pad.PadSurface()
    assert surface._esm == script and surface._css == style
    assert "export default { render }" in script
    assert not re.search(r"^\s*import\b|\bimport\(", script, re.MULTILINE)  # offline: no imports
    assert "touch-action: none" in style  # a finger draws instead of scrolling
    assert set(re.findall(r'type: "(\w+)"', script)) == {"stroke", "upload"}
    for name in ("strokes", "size", "line_width", "drawing"):
        assert f'model.get("{name}")' in script and surface.has_trait(name)


def png_bytes(array: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


def data_url(content: bytes, mime: str = "image/png") -> str:
    """What the browser's FileReader.readAsDataURL makes of a file."""
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


def browser_upload(pad, name, url):
    from_browser(pad.controls["pad"], {"type": "upload", "name": name, "data_url": url})


def test_uploads_reach_the_network_through_the_drop_zone(trained_model):
    paper = np.full((120, 90), 230, dtype=np.uint8)  # a photo: dark ink on light paper
    paper[20:100, 40:52] = 30
    content = png_bytes(paper)
    assert digit_pad.data_url_bytes(data_url(content)) == content
    assert np.array_equal(digit_pad.read_image(content), paper)
    expected, _ = direct_prediction(trained_model, paper)
    pad = DigitPad(trained_model)
    browser_upload(pad, "one.png", data_url(content))
    assert np.allclose(pad.probabilities, expected.numpy(), atol=1e-6)
    assert np.allclose(pad.image, paper / 255)  # an uploaded picture is kept as floats in [0, 1]
    assert status_of(pad) == pad.message and "reads a" in pad.message
    from_browser(pad.controls["pad"], browser_stroke(SEVEN[0]))  # drawing replaces the picture
    assert pad.image.shape == (280, 280) and pad.uploaded is None
    photo = DigitPad(trained_model, canvas=False)  # the upload-only pad: the drop zone stays
    assert not photo.controls["pad"].drawing
    browser_upload(photo, "one.jpg", data_url(png_bytes(paper, "JPEG"), "image/jpeg"))
    expected, _ = direct_prediction(trained_model, digit_pad.read_image(png_bytes(paper, "JPEG")))
    assert np.allclose(photo.probabilities, expected.numpy(), atol=1e-6)
    pad = DigitPad(trained_model, canvas=False)
    pad.set(image=paper)  # the Python way to show a picture
    assert np.allclose(pad.probabilities, direct_prediction(trained_model, paper)[0].numpy(),
                       atol=1e-6)
    pad.image = np.zeros((50, 50))
    assert pad.probabilities is None and "empty" in pad.message
    with pytest.raises(ValueError, match="2-D grey image"):
        pad.set(image=np.zeros((3, 50, 50)))


@pytest.mark.parametrize("message, error", [
    ({"name": "notes.txt", "data_url": data_url(b"not an image", "text/plain")},
     "notes.txt: could not read the file as an image"),
    ({"name": "one.png", "data_url": "data:image/png;base64,@@@"}, "one.png: the file arrived "
                                                                   "garbled"),
    ({"name": "one.png", "data_url": "https://example.com/one.png"}, "no file contents"),
    ({"name": "one.png"}, "no file contents"),
    ({"data_url": None}, "the file: the browser sent no file contents"),
    ({"name": "huge.heic", "error": "the browser could not read this 9.0 MB file"},
     "huge.heic: the browser could not read this 9.0 MB file"),
])
def test_a_file_that_is_not_an_image_gives_a_message(trained_model, message, error):
    pad = DigitPad(trained_model)
    from_browser(pad.controls["pad"], {"type": "upload", **message})  # no exception
    assert error in status_of(pad) and "color:red" in status_of(pad)
    assert pad.probabilities is None and pad.uploaded is None


def test_reading_files_names_what_is_wrong():
    with pytest.raises(ValueError, match="PNG or JPEG"):
        digit_pad.read_image(b"not an image")
    with pytest.raises(ValueError, match="base64 data: URL"):
        digit_pad.data_url_bytes("data:image/png,rawbytes")
    with pytest.raises(ValueError, match="every stroke needs at least one"):
        digit_pad.stroke_points([])


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


def test_pad_shows_any_network_from_its_first_map():
    torch.manual_seed(0)
    sequential = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                     torch.nn.Linear(4 * 26 * 26, 10))
    pad = DigitPad(sequential, canvas=False)
    assert pad.layer == pad.layers[0]  # no conv1 here: the first map is shown
    pad.draw_strokes(SEVEN)
    assert pad.feature_maps.shape == (4, 26, 26)
    functional = FunctionalNet()
    pad = DigitPad(functional, canvas=False, layer="relu #2")
    assert pad.layers == FUNCTIONAL_LAYERS
    pad.draw_strokes(SEVEN)
    by_hand = functional_by_hand(functional, pad.steps["normalised"][None])
    assert torch.allclose(pad.feature_maps, by_hand["relu #2"][0],
                          atol=1e-6)
