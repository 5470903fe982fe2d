import ipywidgets as widgets
import matplotlib
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_tutorial.data import load_split
from mnist_tutorial.kernels import PRESETS
from mnist_tutorial.widgets.convolution_explorer import KernelPlayground, SlidingWindowStepper

matplotlib.use("Agg")

TINY = torch.arange(9.0).view(3, 3)
TINY_KERNEL = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
PNG = b"\x89PNG"


def conv(image: torch.Tensor, kernel: torch.Tensor, stride: int = 1, padding: int = 0):
    """PyTorch's answer for one (H, W) image and one (kH, kW) kernel."""
    return F.conv2d(image[None, None], kernel[None, None], stride=stride, padding=padding)[0, 0]


def find(widget: widgets.Widget, kind: type, description: str | None = None) -> widgets.Widget:
    """The first control of ``kind`` (with ``description``) inside ``widget``'s boxes."""
    if isinstance(widget, kind) and description in (None, getattr(widget, "description", None)):
        return widget
    for child in getattr(widget, "children", ()):
        found = find(child, kind, description)
        if found is not None:
            return found
    return None


def test_stepper_walks_the_tiny_example_window_by_window():
    stepper = SlidingWindowStepper(TINY, TINY_KERNEL)
    expected = conv(TINY, TINY_KERNEL)
    assert stepper.n_steps == 4 and stepper.output_shape == (2, 2)
    assert torch.equal(expected, torch.tensor([[19.0, 25.0], [37.0, 43.0]]))
    windows = [TINY[:2, :2], TINY[:2, 1:], TINY[1:, :2], TINY[1:, 1:]]
    for step, window in enumerate(windows):
        stepper.step = step
        row, column = divmod(step, 2)
        assert stepper.position == (row, column) and stepper.window_origin == (row, column)
        assert torch.equal(stepper.current_window, window)
        assert torch.equal(stepper.products, window * TINY_KERNEL)
        assert stepper.value == expected[row, column]
        done = torch.arange(4).view(2, 2) <= step
        assert torch.equal(stepper.partial_output[done], expected[done])
        assert stepper.partial_output[~done].isnan().all()


def test_stepper_describes_each_product_and_the_sum():
    stepper = SlidingWindowStepper(TINY, TINY_KERNEL)
    assert stepper.describe_step() == "step 1 of 4: output[0, 0] = 0×0 + 1×1 + 3×2 + 4×3 = 19"
    stepper.step = 3
    assert stepper.describe_step().endswith("output[1, 1] = 4×0 + 5×1 + 7×2 + 8×3 = 43")


@settings(max_examples=25, deadline=None)
@given(height=st.integers(1, 7), width=st.integers(1, 7), kh=st.integers(1, 4),
       kw=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       seed=st.integers(0, 2**16))
def test_stepper_matches_pytorch_for_any_stride_and_padding(height, width, kh, kw, stride,
                                                            padding, seed):
    if kh > height + 2 * padding or kw > width + 2 * padding:
        return  # the kernel does not fit: covered by the error test
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(height, width, generator=generator)
    kernel = torch.randn(kh, kw, generator=generator)
    expected = conv(image, kernel, stride, padding)
    padded = F.pad(image, (padding,) * 4)
    stepper = SlidingWindowStepper(image, kernel, stride=stride, padding=padding)
    assert stepper.output_shape == tuple(expected.shape)
    for step in range(stepper.n_steps):
        stepper.step = step
        row, column = stepper.position
        top, left = row * stride, column * stride
        assert torch.equal(stepper.current_window, padded[top:top + kh, left:left + kw])
        torch.testing.assert_close(torch.tensor(stepper.value), expected[row, column])
    torch.testing.assert_close(stepper.partial_output, expected)  # the last step: all of it


def test_stepper_rejects_bad_input():
    with pytest.raises(ValueError, match=r"image must be one 2-D image .* got shape \(2, 5, 5\)"):
        SlidingWindowStepper(torch.zeros(2, 5, 5), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="kernel is empty"):
        SlidingWindowStepper(TINY, torch.zeros(0, 3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        SlidingWindowStepper(torch.zeros(2, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="stride must be positive"):
        SlidingWindowStepper(TINY, TINY_KERNEL, stride=0)
    stepper = SlidingWindowStepper(TINY, TINY_KERNEL)
    with pytest.raises(ValueError, match=r"step must be between 0 and 3 \(there are 4 window"):
        stepper.step = 4
    with pytest.raises(ValueError, match="step must be"):
        stepper.set(step=1.5)
    with pytest.raises(ValueError, match="unknown setting 'stride'"):
        stepper.set(stride=2)
    assert stepper.step == 0  # nothing changed


def test_stepper_takes_one_digit_of_a_batch_as_its_image():
    digit = torch.randn(1, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    stepper = SlidingWindowStepper(digit, TINY_KERNEL[None])  # (1, 1, H, W) and (1, kH, kW)
    assert stepper.image.shape == (5, 5) and stepper.kernel.shape == (2, 2)
    stepper.step = stepper.n_steps - 1
    torch.testing.assert_close(stepper.partial_output, conv(digit[0, 0], TINY_KERNEL))


def test_stepper_widget_buttons_and_slider_move_the_window():
    stepper = SlidingWindowStepper(TINY, TINY_KERNEL, padding=1)
    view = stepper.widget
    back, forward = find(view, widgets.Button, "◀ back"), find(view, widgets.Button, "next ▶")
    slider, text = find(view, widgets.IntSlider), find(view, widgets.HTML)
    picture = find(view, widgets.Image)
    assert stepper.controls == {"back": back, "next": forward, "play": find(view, widgets.Play),
                                "step": slider}
    assert slider.max == stepper.n_steps - 1 == 15
    first = bytes(picture.value)
    assert first.startswith(PNG)
    forward.click()
    forward.click()
    assert stepper.step == slider.value == 2
    assert "output[0, 2] = 0×0 + 0×1 + 1×2 + 2×3 = 8" in text.value
    redrawn = bytes(picture.value)
    assert redrawn.startswith(PNG) and redrawn != first
    back.click()
    assert stepper.step == 1
    slider.value = 15
    assert stepper.step == 15 and stepper.value == conv(TINY, TINY_KERNEL, padding=1)[3, 3]
    forward.click()  # already at the last window: stays there
    assert stepper.step == 15
    stepper.step = 5  # the Python API moves the slider too
    assert slider.value == 5 and "step 6 of 16" in text.value
    assert bytes(picture.value) == stepper.png()  # the picture is the state now


def test_stepper_figure_is_titled_and_labelled():
    stepper = SlidingWindowStepper(TINY, TINY_KERNEL)
    stepper.step = 2
    figure = stepper.plot()
    assert "step 3 of 4" in figure.get_suptitle()
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["input", "kernel", "window × kernel, sum = 37", "output 2×2 so far"]
    assert all(axes.get_xlabel() and axes.get_ylabel() for axes in figure.axes)
    products = figure.axes[2]
    assert [text.get_text() for text in products.texts] == ["0", "4", "12", "21"]  # 3×0, 4×1, ...
    output, veil = (image.get_array() for image in figure.axes[3].images)
    assert output[0, 0] == 19 and output[1, 0] == 37
    assert veil[1, 1].tolist() == [1, 1, 1, 1] and veil[1, 0, 3] == 0  # not computed yet: white


@pytest.fixture
def digits():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(6, 1, 28, 28, generator=generator), torch.arange(6)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_playground_presets_give_pytorchs_feature_map(digits, name):
    images, labels = digits
    playground = KernelPlayground(images, labels, index=2)
    playground.set(preset=name)
    assert playground.preset == name and torch.equal(playground.kernel, PRESETS[name])
    expected = F.conv2d(images[2:3], PRESETS[name][None, None])[0, 0]
    torch.testing.assert_close(playground.feature_map, expected)


def test_playground_custom_kernel_index_and_padding(digits):
    images, labels = digits
    playground = KernelPlayground(images, labels, padding=1)
    custom = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.5, 0.0], [2.0, 0.0, 0.0]])
    playground.set(kernel=custom, index=4)
    assert playground.preset == "custom" and playground.index == 4
    assert torch.equal(playground.image, images[4, 0])
    expected = F.conv2d(images[4:5], custom[None, None], padding=1)[0, 0]
    assert playground.feature_map.shape == (28, 28)
    torch.testing.assert_close(playground.feature_map, expected)
    playground.kernel = PRESETS["box_blur"].tolist()  # typing in a preset's numbers names it
    assert playground.preset == "box_blur"
    playground.index = 2
    playground.preset = "sharpen"
    expected = F.conv2d(images[2:3], PRESETS["sharpen"][None, None], padding=1)[0, 0]
    torch.testing.assert_close(playground.feature_map, expected)


def test_playground_rejects_bad_input(digits):
    images, labels = digits
    with pytest.raises(ValueError, match=r"images must be a batch \(N, H, W\)"):
        KernelPlayground(images[0, 0])
    with pytest.raises(ValueError, match="images is empty"):
        KernelPlayground(images[:0])
    with pytest.raises(ValueError, match="got 2 labels for 6 images"):
        KernelPlayground(images, labels[:2])
    with pytest.raises(ValueError, match="unknown kernel 'blur'"):
        KernelPlayground(images, preset="blur")
    playground = KernelPlayground(images)
    with pytest.raises(ValueError, match="index must be between 0 and 5"):
        playground.set(index=6)
    with pytest.raises(ValueError, match=r"kernel is 3x3, got shape \(5, 5\)"):
        playground.set(kernel=torch.zeros(5, 5))
    with pytest.raises(ValueError, match="not both"):
        playground.set(preset="sharpen", kernel=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="index must be"):  # checked before anything changes
        playground.set(preset="sharpen", index=-1)
    assert playground.preset == "identity" and playground.index == 0


def test_playground_widget_controls_drive_the_feature_map(digits):
    images, labels = digits
    playground = KernelPlayground(images, labels)
    view = playground.widget
    menu, slider = find(view, widgets.Dropdown), find(view, widgets.IntSlider)
    picture = find(view, widgets.Image)
    first = bytes(picture.value)
    boxes = [child for row in view.children[2].children for child in row.children]
    assert len(boxes) == 9 and all(isinstance(box, widgets.FloatText) for box in boxes)
    assert boxes == [playground.controls[f"kernel[{r},{c}]"] for r in range(3) for c in range(3)]
    assert playground.controls["preset"] is menu and playground.controls["index"] is slider

    menu.value = "vertical_edges"
    assert [box.value for box in boxes] == PRESETS["vertical_edges"].flatten().tolist()
    slider.value = 3
    expected = F.conv2d(images[3:4], PRESETS["vertical_edges"][None, None])[0, 0]
    torch.testing.assert_close(playground.feature_map, expected)
    redrawn = bytes(picture.value)
    assert redrawn.startswith(PNG) and redrawn != first

    boxes[4].value = 2.5  # type a number into the middle box
    assert menu.value == playground.preset == "custom" and playground.kernel[1, 1] == 2.5
    custom = PRESETS["vertical_edges"].clone()
    custom[1, 1] = 2.5
    expected = F.conv2d(images[3:4], custom[None, None])[0, 0]
    torch.testing.assert_close(playground.feature_map, expected)

    playground.set(preset="sharpen")  # the Python API moves the controls too
    assert menu.value == "sharpen" and boxes[4].value == 5.0
    playground.set(index=5)
    assert slider.value == 5
    assert bytes(picture.value) == playground.png()


def test_playground_figure_is_titled_and_labelled(digits):
    images, labels = digits
    playground = KernelPlayground(images, labels, index=1, preset="sobel_vertical_edges")
    figure = playground.plot()
    assert figure.get_suptitle() == "Kernel playground: sobel_vertical_edges on digit #1"
    titles = [axes.get_title() for axes in figure.axes[:3]]
    assert titles == ["digit #1 (label 1)", "kernel: sobel_vertical_edges", "feature map (26×26)"]
    assert all(axes.get_xlabel() and axes.get_ylabel() for axes in figure.axes[:3])
    assert figure.axes[3].get_ylabel() == "sum of window × kernel"  # the colour bar


def test_playground_on_real_digits(mnist_root):
    split = load_split("mnist", train=False, root=mnist_root, quick=True)
    playground = KernelPlayground(split.images[:10], split.labels[:10], index=0)
    playground.set(preset="horizontal_edges")
    expected = F.conv2d(split.images[:1], PRESETS["horizontal_edges"][None, None])[0, 0]
    torch.testing.assert_close(playground.feature_map, expected)
    assert int(split.labels[0]) == 7  # the first test digit: the notebook's example
