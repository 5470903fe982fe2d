"""The backward-pass checkers: right answers written in different ways pass, each mistake a learner
makes fails with its hint, and a learner's crash is a failed case, never an exception."""

import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial import ops
from mnist_tutorial.exercises import (
    check_conv2d_backward,
    check_max_pool2d_backward,
)
from tests.helpers import hints


def pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


# --- conv2d_backward: answers as a learner would write them -------------------------------------

def conv_by_full_convolution(x, weight, grad_output, stride=1, padding=0, flip=True,
                             spread=True, drop_padding=True, bias_mean=False,
                             first_image_only=False, flip_weight_grad=False, swap=True):
    """The notebook's recipe with F.conv2d; each keyword False/True builds in one mistake."""
    unbatched = x.dim() == 3
    if unbatched:
        x, grad_output = x[None], grad_output[None]
    (sh, sw), (ph, pw), (kh, kw) = pair(stride), pair(padding), weight.shape[-2:]
    n, o, out_h, out_w = grad_output.shape
    grad_bias = grad_output.mean(dim=(0, 2, 3)) if bias_mean else grad_output.sum(dim=(0, 2, 3))
    images = 1 if first_image_only else n
    grad_weight = torch.zeros_like(weight)
    padded = F.pad(x, (pw, pw, ph, ph))
    for i in range(kh):
        for j in range(kw):
            window = padded[:images, :, i:i + sh * out_h:sh, j:j + sw * out_w:sw]
            grad_weight[:, :, i, j] = torch.einsum("nopq,ncpq->oc", grad_output[:images], window)
    if flip_weight_grad:
        grad_weight = grad_weight.flip(-2, -1)
    if spread:
        spread_out = grad_output.new_zeros(n, o, (out_h - 1) * sh + 1, (out_w - 1) * sw + 1)
        spread_out[:, :, ::sh, ::sw] = grad_output
    else:
        spread_out = grad_output
    kernel = weight.flip(-2, -1) if flip else weight
    kernel = kernel.transpose(0, 1) if swap else kernel
    full = F.conv2d(spread_out, kernel, padding=(kh - 1, kw - 1))
    grad_padded = torch.zeros_like(padded)
    rows, columns = min(full.shape[-2], padded.shape[-2]), min(full.shape[-1], padded.shape[-1])
    grad_padded[:, :, :rows, :columns] = full[:, :, :rows, :columns]
    grad_x = grad_padded[:, :, ph:ph + x.shape[-2], pw:pw + x.shape[-1]] if drop_padding \
        else grad_padded
    return (grad_x[0] if unbatched else grad_x), grad_weight, grad_bias


def conv_by_loops(x, weight, grad_output, stride=1, padding=0):
    """Another right answer: every output number sends its gradient back through its window."""
    unbatched = x.dim() == 3
    if unbatched:
        x, grad_output = x[None], grad_output[None]
    (sh, sw), (ph, pw), (kh, kw) = pair(stride), pair(padding), weight.shape[-2:]
    padded = F.pad(x, (pw, pw, ph, ph))
    grad_padded, grad_weight = torch.zeros_like(padded), torch.zeros_like(weight)
    for n in range(grad_output.shape[0]):
        for o in range(grad_output.shape[1]):
            for i in range(grad_output.shape[2]):
                for j in range(grad_output.shape[3]):
                    g = grad_output[n, o, i, j]
                    rows, columns = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                    grad_padded[n, :, rows, columns] += g * weight[o]
                    grad_weight[o] += g * padded[n, :, rows, columns]
    grad_x = grad_padded[:, :, ph:ph + x.shape[-2], pw:pw + x.shape[-1]]
    return (grad_x[0] if unbatched else grad_x), grad_weight, grad_output.sum(dim=(0, 2, 3))


def conv_by_autograd(x, weight, grad_output, stride=1, padding=0):
    """A third right answer: let autograd do it."""
    x, weight = x.clone().requires_grad_(), weight.clone().requires_grad_()
    bias = torch.zeros(len(weight), requires_grad=True)
    return torch.autograd.grad(F.conv2d(x, weight, bias, stride, padding), (x, weight, bias),
                               grad_output)


@pytest.mark.parametrize("fn", [ops.conv2d_backward, conv_by_full_convolution, conv_by_loops,
                                conv_by_autograd])
def test_right_conv_backward_answers_pass(fn):
    report = check_conv2d_backward(fn)
    assert report.passed, str(report)
    assert "8 of 8 cases passed" in str(report)


@pytest.mark.parametrize("mistake, case, hint", [
    ({"flip": False}, "several kernels and channels, batch of 2",
     "grad_x: shape (2, 2, 5, 5) is right but the values differ"),
    ({"flip": False}, "worked example: notebook 01's 3x3 input and 2x2 kernel, output gradient 1",
     "did you forget to flip the kernel?"),
    ({"spread": False}, "stride 2", "did you ignore the stride?"),
    ({"drop_padding": False}, "padding 1", "did you forget to drop the padding?"),
    ({"bias_mean": True}, "several kernels and channels, batch of 2",
     "grad_bias: shape (3,) is right but the values differ"),
    ({"bias_mean": True}, "stride 2", "not the mean"),
    ({"first_image_only": True}, "several kernels and channels, batch of 2",
     "sum over every image of the batch"),
    ({"flip_weight_grad": True}, "several kernels and channels, batch of 2",
     "without a flip (the flip belongs to the input gradient)"),
    ({"swap": False}, "padding 1", "swap the kernel's first two axes (O and C)"),
    ({"swap": False}, "several kernels and channels, batch of 2", "raised RuntimeError"),
])
def test_conv_backward_mistakes_get_their_hint(mistake, case, hint):
    def learner(x, weight, grad_output, stride=1, padding=0):
        return conv_by_full_convolution(x, weight, grad_output, stride, padding, **mistake)

    failed = hints(check_conv2d_backward(learner))
    assert case in failed and hint in failed[case], failed.get(case)


def test_conv_backward_worked_example_shows_both_answers():
    def no_flip(x, weight, grad_output, stride=1, padding=0):
        return conv_by_full_convolution(x, weight, grad_output, stride, padding, flip=False)

    report = check_conv2d_backward(no_flip)
    message = report[0].message
    assert message.startswith("grad_x: shape (1, 1, 3, 3) is right but the values differ")
    assert "expected [[0.0, 1.0, 1.0], [2.0, 6.0, 4.0], [2.0, 5.0, 3.0]]" in message
    assert "got      [[3.0, 5.0, 2.0], [4.0, 6.0, 2.0], [1.0, 1.0, 0.0]]" in message
    assert "grad_weight" not in message  # the parts that are right are not listed
    assert len(report.failed) == len(report)


def test_bias_summed_over_positions_only_is_named():
    def per_image_bias(x, weight, grad_output, stride=1, padding=0):
        grad_x, grad_weight, _ = ops.conv2d_backward(x, weight, grad_output, stride, padding)
        batch = grad_output if grad_output.dim() == 4 else grad_output[None]
        return grad_x, grad_weight, batch.sum(dim=(2, 3))

    failed = hints(check_conv2d_backward(per_image_bias))
    assert "grad_bias: expected shape (3,), got (2, 3)\nHint: sum over the images" in \
        failed["several kernels and channels, batch of 2"]


def test_conv_backward_answers_that_are_no_triple_fail_cleanly():
    report = check_conv2d_backward(lambda x, weight, grad_output, stride=1, padding=0:
                                   ops.conv2d_backward(x, weight, grad_output, stride,
                                                       padding)[0])
    assert not report.passed and len(report.failed) == 8
    assert report[0].message == ("returned Tensor, expected a tuple of 3 tensors (grad_x, "
                                 "grad_weight, grad_bias)")


def test_conv_backward_crashes_and_skeletons_are_failed_cases():
    def skeleton(x, weight, grad_output, stride=1, padding=0):
        raise NotImplementedError

    def crashes(x, weight, grad_output, stride=1, padding=0):
        return x[99]

    report = check_conv2d_backward(skeleton)
    assert all(result.message.startswith("not done yet") for result in report)
    report = check_conv2d_backward(crashes)
    assert report[2].message.startswith("fn(x, weight, grad_output, stride=2) raised IndexError")

    def no_options(x, weight, grad_output):
        return ops.conv2d_backward(x, weight, grad_output)

    failed = hints(check_conv2d_backward(no_options))
    assert "give your function that parameter" in failed["stride 2"]
    assert "padding 1" in failed and "worked example" not in " ".join(failed)


# --- max_pool2d_backward ------------------------------------------------------------------------

def pool_by_loops(x, kernel_size, grad_output, stride=None, padding=0, winners="first",
                  step=None, add=True, shift=True, keep_batch_axis=False):
    """A learner's loops; each keyword other than its default builds in one mistake."""
    unbatched = x.dim() == 3
    if unbatched:
        x, grad_output = x[None], grad_output[None]
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    sh, sw = pair(kernel_size if stride is None else stride)
    put_h, put_w = pair(step) if step is not None else (sh, sw)
    padded = F.pad(x, (pw, pw, ph, ph), value=float("-inf"))
    grad = torch.zeros_like(padded)
    n_, c_, out_h, out_w = grad_output.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(out_h):
                for j in range(out_w):
                    window = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    if winners == "first":
                        places = [divmod(int(window.argmax()), kw)]
                    elif winners == "all":
                        places = (window == window.max()).nonzero().tolist()
                    else:  # every pixel of the window
                        places = [(a, b) for a in range(kh) for b in range(kw)]
                    for a, b in places:
                        row, column = i * put_h + a, j * put_w + b
                        if row >= grad.shape[2] or column >= grad.shape[3]:
                            continue  # a wrong step can leave the padded input
                        if add:
                            grad[n, c, row, column] += grad_output[n, c, i, j]
                        else:
                            grad[n, c, row, column] = grad_output[n, c, i, j]
    height, width = x.shape[-2:]
    grad = grad[:, :, ph:ph + height, pw:pw + width] if shift else grad[:, :, :height, :width]
    return grad[0] if unbatched and not keep_batch_axis else grad


def pool_by_autograd(x, kernel_size, grad_output, stride=None, padding=0):
    """Another right answer: let autograd do it."""
    x = x.clone().requires_grad_()
    return torch.autograd.grad(F.max_pool2d(x, kernel_size, stride, padding), x, grad_output)[0]


@pytest.mark.parametrize("fn", [ops.max_pool2d_backward, pool_by_loops, pool_by_autograd])
def test_right_max_pool_backward_answers_pass(fn):
    report = check_max_pool2d_backward(fn)
    assert report.passed, str(report)
    assert "8 of 8 cases passed" in str(report)


@pytest.mark.parametrize("mistake, case, hint", [
    ({"winners": "every"}, "a batch of 2 images with 3 channels",
     "did you send it to every pixel of the window?"),
    ({"winners": "all"}, "ties: several pixels hold a window's maximum",
     "not to every maximum"),
    ({"add": False}, "overlapping windows: 3x3, stride 1",
     "add (+=) their gradients, do not overwrite"),
    ({"step": 3}, "3x3 windows, stride 2", "did you ignore the stride when placing"),
    ({"shift": False}, "padding 1 on negative numbers", "subtract the padding"),
    ({"keep_batch_axis": True}, "one image without a batch axis: (C, H, W)",
     "without a batch axis"),
])
def test_max_pool_backward_mistakes_get_their_hint(mistake, case, hint):
    def learner(x, kernel_size, grad_output, stride=None, padding=0):
        return pool_by_loops(x, kernel_size, grad_output, stride, padding, **mistake)

    failed = hints(check_max_pool2d_backward(learner))
    assert case in failed and hint in failed[case], failed.get(case)


def test_stride_one_when_none_is_given_is_named():
    def stride_one(x, kernel_size, grad_output, stride=None, padding=0):
        return pool_by_loops(x, kernel_size, grad_output, 1 if stride is None else stride, padding)

    failed = hints(check_max_pool2d_backward(stride_one))
    assert "when no stride is given, it equals the kernel size" in failed[
        "2x2 windows on a 4x4 matrix, no ties"]
    assert "3x3 windows, stride 2" not in failed  # a given stride is used as it is


def test_average_pooling_gradient_is_named():
    def spread_evenly(x, kernel_size, grad_output, stride=None, padding=0):
        return ops.avg_pool2d_backward(x, kernel_size, grad_output, stride, padding)

    failed = hints(check_max_pool2d_backward(spread_evenly))
    assert "this is average pooling's gradient" in failed["a batch of 2 images with 3 channels"]


def test_last_maximum_on_ties_is_named():
    def last_maximum(x, kernel_size, grad_output, stride=None, padding=0):
        # the same as the package's, on the input turned by 180 degrees: the last maximum wins
        turned = ops.max_pool2d_backward(x.flip(-2, -1), kernel_size, grad_output.flip(-2, -1),
                                         stride, padding)
        return turned.flip(-2, -1)

    failed = hints(check_max_pool2d_backward(last_maximum))
    assert "not the last" in failed["ties: several pixels hold a window's maximum"]
    assert "2x2 windows on a 4x4 matrix, no ties" not in failed


def test_max_pool_backward_wrong_types_fail_cleanly():
    report = check_max_pool2d_backward(lambda x, k, grad_output, stride=None, padding=0:
                                       grad_output.tolist())
    assert report[0].message == ("returned an object of type list, expected a torch.Tensor of "
                                 "shape (1, 1, 4, 4)")
    report = check_max_pool2d_backward(lambda x, k, grad_output, stride=None, padding=0:
                                       grad_output)
    assert report[0].message.startswith("expected shape (1, 1, 4, 4), got (1, 1, 2, 2)")
    assert "grad_x has the shape of x" in report[0].message
    with pytest.raises(ValueError, match="pass your function itself"):
        check_max_pool2d_backward(None)
