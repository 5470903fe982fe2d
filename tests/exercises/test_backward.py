"""The backward-pass checkers: right answers written in different ways pass, each mistake a learner
makes fails with its hint, and a learner's crash is a failed case, never an exception."""

import pytest
import torch
import torch.autograd.functional as autograd_functional
import torch.func
import torch.nn.functional as F

from mnist_tutorial import backprop, ops
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


def conv_by_loops(x, weight, grad_output, stride=1, padding=0, add=True, average=False,
                  ignore_stride=False):
    """Another right answer: every output number sends its gradient back through its window;
    ``add=False`` overwrites (=), ``average`` divides the weight gradient by the batch size and
    ``ignore_stride`` steps one pixel: three mistakes."""
    unbatched = x.dim() == 3
    if unbatched:
        x, grad_output = x[None], grad_output[None]
    (sh, sw), (ph, pw), (kh, kw) = pair(stride), pair(padding), weight.shape[-2:]
    if ignore_stride:
        sh = sw = 1
    padded = F.pad(x, (pw, pw, ph, ph))
    grad_padded, grad_weight = torch.zeros_like(padded), torch.zeros_like(weight)
    for n in range(grad_output.shape[0]):
        for o in range(grad_output.shape[1]):
            for i in range(grad_output.shape[2]):
                for j in range(grad_output.shape[3]):
                    g = grad_output[n, o, i, j]
                    rows, columns = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                    if add:
                        grad_padded[n, :, rows, columns] += g * weight[o]
                        grad_weight[o] += g * padded[n, :, rows, columns]
                    else:
                        grad_padded[n, :, rows, columns] = g * weight[o]
                        grad_weight[o] = g * padded[n, :, rows, columns]
    if average:
        grad_weight = grad_weight / len(x)
    grad_x = grad_padded[:, :, ph:ph + x.shape[-2], pw:pw + x.shape[-1]]
    return (grad_x[0] if unbatched else grad_x), grad_weight, grad_output.sum(dim=(0, 2, 3))


def conv_as_written(x, weight, grad_output, stride=1, padding=0):
    """An answer written to the exercise's text, with one image and (height, width) pairs handled
    first, and the weight gradient as one product over the batch per kernel position."""
    if x.dim() == 3:  # one image (C, H, W): add a batch axis, remove it at the end
        grad_x, grad_weight, grad_bias = conv_as_written(x[None], weight, grad_output[None],
                                                         stride, padding)
        return grad_x[0], grad_weight, grad_bias
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    ph, pw = padding if isinstance(padding, tuple) else (padding, padding)
    n, c, height, width = x.shape
    o, _, kh, kw = weight.shape
    _, _, out_h, out_w = grad_output.shape
    padded = torch.zeros(n, c, height + 2 * ph, width + 2 * pw, dtype=x.dtype)
    padded[:, :, ph:ph + height, pw:pw + width] = x
    grad_padded = torch.zeros_like(padded)
    grad_weight = torch.zeros_like(weight)
    for a in range(kh):
        for b in range(kw):
            # the pixel (a, b) of every window: rows a, a + sh, ...; columns b, b + sw, ...
            pixels = padded[:, :, a:a + sh * out_h:sh, b:b + sw * out_w:sw]
            grad_weight[:, :, a, b] = torch.einsum("nopq,ncpq->oc", grad_output, pixels)
            grad_padded[:, :, a:a + sh * out_h:sh, b:b + sw * out_w:sw] += torch.einsum(
                "nopq,oc->ncpq", grad_output, weight[:, :, a, b])
    grad_x = grad_padded[:, :, ph:ph + height, pw:pw + width]
    return grad_x, grad_weight, grad_output.sum(dim=(0, 2, 3))


def conv_by_autograd(x, weight, grad_output, stride=1, padding=0):
    """Autograd: right numbers, but not the exercise."""
    x, weight = x.clone().requires_grad_(), weight.clone().requires_grad_()
    bias = torch.zeros(len(weight), requires_grad=True)
    return torch.autograd.grad(F.conv2d(x, weight, bias, stride, padding), (x, weight, bias),
                               grad_output)


def conv_by_tensor_backward(x, weight, grad_output, stride=1, padding=0):
    with torch.enable_grad():
        x, weight = x.clone().requires_grad_(), weight.clone().requires_grad_()
        F.conv2d(x, weight, None, stride, padding).backward(grad_output)
    return x.grad, weight.grad, grad_output.sum(dim=(0, 2, 3))


def conv_by_func_vjp(x, weight, grad_output, stride=1, padding=0):
    _, pull_back = torch.func.vjp(lambda a, b: F.conv2d(a, b, None, stride, padding), x, weight)
    return (*pull_back(grad_output), grad_output.sum(dim=(0, 2, 3)))


def conv_by_func_grad(x, weight, grad_output, stride=1, padding=0):
    def loss(a, b):
        return (F.conv2d(a, b, None, stride, padding) * grad_output).sum()
    return (*torch.func.grad(loss, argnums=(0, 1))(x, weight), grad_output.sum(dim=(0, 2, 3)))


def conv_by_functional_vjp(x, weight, grad_output, stride=1, padding=0):
    _, grads = autograd_functional.vjp(lambda a, b: F.conv2d(a, b, None, stride, padding),
                                       (x, weight), grad_output)
    return (*grads, grad_output.sum(dim=(0, 2, 3)))


def conv_by_nn_grad(x, weight, grad_output, stride=1, padding=0):
    return (torch.nn.grad.conv2d_input(x.shape, weight, grad_output, stride, padding),
            torch.nn.grad.conv2d_weight(x, weight.shape, grad_output, stride, padding),
            grad_output.sum(dim=(0, 2, 3)))


def conv_by_transpose(x, weight, grad_output, stride=1, padding=0):
    grad_x = F.conv_transpose2d(grad_output, weight, None, stride, padding)
    return grad_x, conv_by_loops(x, weight, grad_output, stride, padding)[1], \
        grad_output.sum(dim=(0, 2, 3))


def conv_by_aten(x, weight, grad_output, stride=1, padding=0):
    grad_x, grad_weight, _ = torch.ops.aten.convolution_backward(
        grad_output, x, weight, None, list(pair(stride)), list(pair(padding)), [1, 1], False,
        [0, 0], 1, [True, True, False])
    return grad_x, grad_weight, grad_output.sum(dim=(0, 2, 3))


def conv_by_ops(x, weight, grad_output, stride=1, padding=0):
    return ops.conv2d_backward(x, weight, grad_output, stride, padding)


@pytest.mark.parametrize("fn", [conv_by_full_convolution, conv_by_loops, conv_as_written])
def test_right_conv_backward_answers_pass(fn):
    report = check_conv2d_backward(fn)
    assert report.passed, str(report)
    assert "8 of 8 cases passed" in str(report)


@pytest.mark.parametrize("fn, called", [
    (ops.conv2d_backward, "the course's own mnist_tutorial.ops.conv2d_backward"),
    (conv_by_ops, "the course's own mnist_tutorial.ops.conv2d_backward"),
    (conv_by_autograd, "torch's grad"),
    (conv_by_tensor_backward, "torch's backward"),
    (conv_by_func_vjp, "torch's grad"),
    (conv_by_func_grad, "torch's grad"),
    (conv_by_functional_vjp, "torch's grad"),
    (conv_by_nn_grad, "torch's convolution_backward"),
    (conv_by_transpose, "torch's conv_transpose2d"),
    (conv_by_aten, "torch's convolution_backward"),
])
def test_conv_backward_shortcuts_are_refused(fn, called):
    report = check_conv2d_backward(fn)
    assert not any(passed for _, passed, _ in report)
    assert f"called {called}: this exercise asks you to work out the three gradients yourself" \
        in report[0].message, report[0].message
    assert "a forward convolution such as F.conv2d is fine" in report[0].message


def test_course_backprop_functions_are_refused():
    def through_backprop(x, weight, grad_output, stride=1, padding=0):
        backprop.backward_from_conv2(None, {}, grad_output)

    report = check_conv2d_backward(through_backprop)
    assert "called the course's own mnist_tutorial.backprop." in report[0].message
    assert backprop.backward_from_conv2.__code__.co_name != "refused"  # put back afterwards


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
    ({"swap": False}, "several kernels and channels, batch of 2",
     "raised RuntimeError: Given groups=1"),
    ({"swap": False}, "several kernels and channels, batch of 2",
     "Hint: F.conv2d(input, kernel) needs kernel.shape[1] == the input's channels"),
])
def test_conv_backward_mistakes_get_their_hint(mistake, case, hint):
    def learner(x, weight, grad_output, stride=1, padding=0):
        return conv_by_full_convolution(x, weight, grad_output, stride, padding, **mistake)

    failed = hints(check_conv2d_backward(learner))
    assert case in failed and hint in failed[case], failed.get(case)


@pytest.mark.parametrize("mistake, case, hints_expected", [
    ({"average": True}, "several kernels and channels, batch of 2",
     ["grad_weight: shape (3, 2, 3, 3) is right", "sum each image's share of the weight "
      "gradient over the batch, do not average it"]),
    ({"add": False}, "several kernels and channels, batch of 2",
     ["grad_x: shape", "grad_weight: shape", "add (+=) each output's share to what is there, "
      "do not overwrite it (=)"]),
    ({"ignore_stride": True}, "stride 2",
     ["grad_x: shape", "grad_weight: shape", "did you ignore the stride? output (p, q) read "
      "the window at (p * stride, q * stride), stride=2 here"]),
])
def test_conv_backward_loop_mistakes_get_their_hint(mistake, case, hints_expected):
    def learner(x, weight, grad_output, stride=1, padding=0):
        return conv_by_loops(x, weight, grad_output, stride, padding, **mistake)

    failed = hints(check_conv2d_backward(learner))
    assert case in failed, failed
    for hint in hints_expected:
        assert hint in failed[case], failed[case]


def conv_to_the_old_text(x, weight, grad_output, stride=1, padding=0):
    """Written to the old exercise text: x (N, C, H, W), stride and padding ints."""
    n, c, height, width = x.shape
    o, _, kh, kw = weight.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    grad_padded, grad_weight = torch.zeros_like(padded), torch.zeros_like(weight)
    for image in range(n):
        for out in range(o):
            for i in range(grad_output.shape[2]):
                for j in range(grad_output.shape[3]):
                    g = grad_output[image, out, i, j]
                    rows = slice(i * stride, i * stride + kh)
                    columns = slice(j * stride, j * stride + kw)
                    grad_padded[image, :, rows, columns] += g * weight[out]
                    grad_weight[out] += g * padded[image, :, rows, columns]
    return (grad_padded[:, :, padding:padding + height, padding:padding + width], grad_weight,
            grad_output.sum(dim=(0, 2, 3)))


def test_conv_backward_raw_errors_get_hints():
    failed = hints(check_conv2d_backward(conv_to_the_old_text))
    assert set(failed) == {"stride and padding as (height, width) pairs",
                           "one image without a batch axis: (C, H, W)"}
    assert "raised TypeError" in failed["stride and padding as (height, width) pairs"]
    assert ("Hint: stride and padding may each be one int (the same for rows and columns) or a "
            "(height, width) pair") in failed["stride and padding as (height, width) pairs"]
    assert "raised ValueError: not enough values to unpack" in failed[
        "one image without a batch axis: (C, H, W)"]
    assert "Hint: x here is one image (C, H, W), without a batch axis: add one (x[None]" in \
        failed["one image without a batch axis: (C, H, W)"]

    def unpadded(x, weight, grad_output, stride=1, padding=0):
        """Forgets to pad: the windows at the border come out smaller than the kernel."""
        grad_x, grad_weight = torch.zeros_like(x), torch.zeros_like(weight)
        kh, kw = weight.shape[-2:]
        for n in range(grad_output.shape[0]):
            for o in range(grad_output.shape[1]):
                for i in range(grad_output.shape[2]):
                    for j in range(grad_output.shape[3]):
                        g = grad_output[n, o, i, j]
                        grad_x[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += \
                            g * weight[o]
                        grad_weight[o] += g * x[n, :, i * stride:i * stride + kh,
                                                j * stride:j * stride + kw]
        return grad_x, grad_weight, grad_output.sum(dim=(0, 2, 3))

    failed = hints(check_conv2d_backward(unpadded))
    assert "raised RuntimeError" in failed["padding 1"]
    assert "Hint: an index ran past the (padded) input, or a window came out smaller than the " \
           "kernel" in failed["padding 1"]
    assert "x padded by padding=1" in failed["padding 1"]


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
        grad_x, grad_weight, _ = conv_by_loops(x, weight, grad_output, stride, padding)
        batch = grad_output if grad_output.dim() == 4 else grad_output[None]
        return grad_x, grad_weight, batch.sum(dim=(2, 3))

    failed = hints(check_conv2d_backward(per_image_bias))
    assert "grad_bias: expected shape (3,), got (2, 3)\nHint: sum over the images" in \
        failed["several kernels and channels, batch of 2"]


def test_conv_backward_answers_that_are_no_triple_fail_cleanly():
    report = check_conv2d_backward(lambda x, weight, grad_output, stride=1, padding=0:
                                   conv_by_loops(x, weight, grad_output, stride,
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
        return conv_by_loops(x, weight, grad_output)

    failed = hints(check_conv2d_backward(no_options))
    assert "give your function that parameter" in failed["stride 2"]
    assert "padding 1" in failed and "worked example" not in " ".join(failed)


# --- max_pool2d_backward ------------------------------------------------------------------------

def pool_by_loops(x, kernel_size, grad_output, stride=None, padding=0, winners="first",
                  step=None, add=True, shift=True, keep_batch_axis=False, fill=float("-inf"),
                  ignore_stride=False):
    """A learner's loops; each keyword other than its default builds in one mistake."""
    unbatched = x.dim() == 3
    if unbatched:
        x, grad_output = x[None], grad_output[None]
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    sh, sw = pair(kernel_size if stride is None or ignore_stride else stride)
    put_h, put_w = pair(step) if step is not None else (sh, sw)
    padded = F.pad(x, (pw, pw, ph, ph), value=fill)
    grad = torch.zeros_like(padded)
    n_, c_, out_h, out_w = grad_output.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(out_h):
                for j in range(out_w):
                    window = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    if winners == "first":
                        places = [divmod(int(window.argmax()), kw)]
                    elif winners == "last":
                        last = window.numel() - 1 - int(window.flatten().flip(0).argmax())
                        places = [divmod(last, kw)]
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


def pool_as_written(x, kernel_size, grad_output, stride=None, padding=0):
    """An answer written to the exercise's text: one image and pairs handled first, then the
    first maximum of each window found with a forward max pooling and a comparison."""
    if x.dim() == 3:
        return pool_as_written(x[None], kernel_size, grad_output[None], stride, padding)[0]
    def as_pair(value):
        return value if isinstance(value, tuple) else (value, value)
    (kh, kw), (ph, pw) = as_pair(kernel_size), as_pair(padding)
    sh, sw = as_pair(kernel_size if stride is None else stride)
    maxima = F.max_pool2d(x, kernel_size, stride, padding)  # a forward max pooling is allowed
    height, width = x.shape[-2:]
    grad = torch.zeros(x.shape[0], x.shape[1], height + 2 * ph, width + 2 * pw, dtype=x.dtype)
    for i in range(grad_output.shape[2]):
        for j in range(grad_output.shape[3]):
            top, left = i * sh - ph, j * sw - pw
            done = torch.zeros(x.shape[:2], dtype=torch.bool)  # window's gradient placed yet?
            for a in range(kh):
                for b in range(kw):
                    row, column = top + a, left + b
                    if not (0 <= row < height and 0 <= column < width):
                        continue  # padding: never the maximum
                    wins = (x[:, :, row, column] == maxima[:, :, i, j]) & ~done
                    grad[:, :, row + ph, column + pw] += torch.where(
                        wins, grad_output[:, :, i, j], 0.0)
                    done |= wins
    return grad[:, :, ph:ph + height, pw:pw + width]


def pool_by_autograd(x, kernel_size, grad_output, stride=None, padding=0):
    x = x.clone().requires_grad_()
    return torch.autograd.grad(F.max_pool2d(x, kernel_size, stride, padding), x, grad_output)[0]


def pool_by_tensor_backward(x, kernel_size, grad_output, stride=None, padding=0):
    with torch.enable_grad():
        x = x.clone().requires_grad_()
        F.max_pool2d(x, kernel_size, stride, padding).backward(grad_output)
    return x.grad


def pool_by_func_vjp(x, kernel_size, grad_output, stride=None, padding=0):
    return torch.func.vjp(lambda t: F.max_pool2d(t, kernel_size, stride, padding),
                          x)[1](grad_output)[0]


def pool_by_jacobian(x, kernel_size, grad_output, stride=None, padding=0):
    jacobian = autograd_functional.jacobian(
        lambda t: F.max_pool2d(t, kernel_size, stride, padding), x)
    return torch.tensordot(grad_output, jacobian, dims=grad_output.dim())


def pool_by_indices(x, kernel_size, grad_output, stride=None, padding=0):
    _, indices = F.max_pool2d(x, kernel_size, stride, padding, return_indices=True)
    grad = torch.zeros_like(x).flatten(-2)
    return grad.scatter_add(-1, indices.flatten(-2), grad_output.flatten(-2)).view_as(x)


def pool_by_module_indices(x, kernel_size, grad_output, stride=None, padding=0):
    _, indices = torch.nn.MaxPool2d(kernel_size, stride, padding, return_indices=True)(x)
    return torch.zeros_like(x).flatten(-2).scatter_add(
        -1, indices.flatten(-2), grad_output.flatten(-2)).view_as(x)


def pool_by_unpool(x, kernel_size, grad_output, stride=None, padding=0):
    _, indices = torch._C._nn.max_pool2d_with_indices(x, kernel_size, stride or kernel_size,
                                                       padding)
    return F.max_unpool2d(grad_output, indices, kernel_size, stride, padding,
                          output_size=x.shape[-2:])


def pool_by_ops(x, kernel_size, grad_output, stride=None, padding=0):
    return ops.max_pool2d_backward(x, kernel_size, grad_output, stride, padding)


@pytest.mark.parametrize("fn", [pool_by_loops, pool_as_written])
def test_right_max_pool_backward_answers_pass(fn):
    report = check_max_pool2d_backward(fn)
    assert report.passed, str(report)
    assert "8 of 8 cases passed" in str(report)


@pytest.mark.parametrize("fn, called", [
    (ops.max_pool2d_backward, "the course's own mnist_tutorial.ops.max_pool2d_backward"),
    (pool_by_ops, "the course's own mnist_tutorial.ops.max_pool2d_backward"),
    (pool_by_autograd, "torch's grad"),
    (pool_by_tensor_backward, "torch's backward"),
    (pool_by_func_vjp, "torch's grad"),
    (pool_by_jacobian, "torch's grad"),
    (pool_by_indices, "torch's max_pool2d_with_indices"),
    (pool_by_module_indices, "torch's max_pool2d_with_indices"),
    (pool_by_unpool, "torch's max_pool2d_with_indices"),
])
def test_max_pool_backward_shortcuts_are_refused(fn, called):
    report = check_max_pool2d_backward(fn)
    assert not any(passed for _, passed, _ in report)
    assert f"called {called}: this exercise asks you to send each window's gradient back " \
           f"yourself" in report[0].message, report[0].message


def test_max_unpool_alone_is_refused():
    def unpool_only(x, kernel_size, grad_output, stride=None, padding=0):
        where = torch.zeros_like(grad_output, dtype=torch.long)
        return F.max_unpool2d(grad_output, where, kernel_size, stride, padding,
                              output_size=x.shape[-2:])

    assert "called torch's max_unpool2d" in check_max_pool2d_backward(unpool_only)[0].message


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
    ({"fill": 0.0}, "padding 1 on negative numbers",
     "did you pad with zeros? a zero in the padding beats a window of negative numbers"),
    ({"ignore_stride": True}, "padding 1 on negative numbers",
     "did you ignore the stride? it is given here (stride=2)"),
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
        kh, kw = pair(kernel_size)
        return pool_by_loops(x, kernel_size, grad_output / (kh * kw), stride, padding,
                             winners="every")

    failed = hints(check_max_pool2d_backward(spread_evenly))
    assert "this is average pooling's gradient" in failed["a batch of 2 images with 3 channels"]


def test_last_maximum_on_ties_is_named():
    def last_maximum(x, kernel_size, grad_output, stride=None, padding=0):
        return pool_by_loops(x, kernel_size, grad_output, stride, padding, winners="last")

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


def pool_to_the_old_text(x, kernel_size, grad_output, stride=None, padding=0, place_step=None):
    """Written to the old exercise text: x (N, C, H, W), kernel size, stride and padding ints;
    ``place_step`` puts the gradient with another step than the window's (a mistake)."""
    if stride is None:
        stride = kernel_size
    step = stride if place_step is None else place_step
    n_images, channels, height, width = x.shape
    padded = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
    grad = torch.zeros_like(padded)
    for n in range(n_images):
        for c in range(channels):
            for i in range(grad_output.shape[2]):
                for j in range(grad_output.shape[3]):
                    window = padded[n, c, i * stride:i * stride + kernel_size,
                                    j * stride:j * stride + kernel_size]
                    row, column = divmod(int(window.argmax()), kernel_size)
                    grad[n, c, i * step + row, j * step + column] += grad_output[n, c, i, j]
    return grad[:, :, padding:padding + height, padding:padding + width]


def test_max_pool_backward_raw_errors_get_hints():
    failed = hints(check_max_pool2d_backward(pool_to_the_old_text))
    pairs, image = ("non-square windows, stride and padding as (height, width) pairs",
                    "one image without a batch axis: (C, H, W)")
    assert set(failed) == {pairs, image}
    assert "raised TypeError" in failed[pairs]
    assert ("Hint: kernel_size, stride and padding may each be one int (the same for rows and "
            "columns) or a (height, width) pair") in failed[pairs]
    assert "raised ValueError: not enough values to unpack (expected 4, got 3)" in failed[image]
    assert "Hint: x here is one image (C, H, W), without a batch axis" in failed[image]

    def placed_by_kernel(x, kernel_size, grad_output, stride=None, padding=0):
        return pool_to_the_old_text(x, kernel_size, grad_output, stride, padding, kernel_size)

    failed = hints(check_max_pool2d_backward(placed_by_kernel))
    message = failed["3x3 windows, stride 2"]
    assert "raised IndexError: index" in message and "out of bounds" in message
    assert "Hint: an index ran past the (padded) input, or a window came out empty: window " \
           "(i, j) starts at row i * stride, column j * stride" in message
    assert "stride=2 here; did you step by another number, or ignore the stride?" in message

    def windows_by_kernel(x, kernel_size, grad_output, stride=None, padding=0):
        return pool_to_the_old_text(x, kernel_size, grad_output, None, padding)

    failed = hints(check_max_pool2d_backward(windows_by_kernel))
    assert "Expected reduction dim" in failed["overlapping windows: 3x3, stride 1"]
    assert "a window came out empty" in failed["overlapping windows: 3x3, stride 1"]


def single_channel_recipe_everywhere(x, weight, grad_output, stride=1, padding=0):
    """Section 4's one-channel lesson used as it is on every case."""
    k = weight.shape[-1]
    grad_weight = F.conv2d(x, grad_output)
    grad_x = F.conv2d(F.pad(grad_output, (k - 1,) * 4), weight.flip(-2, -1))
    return grad_x, grad_weight, grad_output.sum()


def test_the_single_channel_recipe_everywhere_gets_hints():
    failed = hints(check_conv2d_backward(single_channel_recipe_everywhere))
    assert "grad_bias: expected shape (1,), got ()\nHint: grad_bias has one number per output " \
           "channel" in failed["worked example: notebook 01's 3x3 input and 2x2 kernel, output " \
                               "gradient 1"]
    channels = failed["several kernels and channels, batch of 2"]
    assert "raised RuntimeError: Given groups=1" in channels
    assert "its kernel is (C, O, kH, kW): the turned weight with its first two axes swapped" in \
        channels
    assert "a convolution inside your function got a kernel (its second argument) larger than " \
           "its padded input" in failed["stride and padding as (height, width) pairs"]


def test_no_failure_message_is_a_bare_exception():
    """Every "raised" message of the beginner answers above carries a hint."""
    def conv_mistake(**mistake):
        return lambda x, weight, grad_output, stride=1, padding=0: conv_by_full_convolution(
            x, weight, grad_output, stride, padding, **mistake)

    def pool_mistake(**mistake):
        return lambda x, kernel_size, grad_output, stride=None, padding=0: pool_to_the_old_text(
            x, kernel_size, grad_output, stride, padding, **mistake)

    reports = [check_max_pool2d_backward(pool_to_the_old_text),
               check_max_pool2d_backward(pool_mistake(place_step=2)),
               check_conv2d_backward(conv_to_the_old_text),
               check_conv2d_backward(single_channel_recipe_everywhere),
               check_conv2d_backward(conv_mistake(swap=False))]
    for report in reports:
        for _, passed, message in report:
            assert passed or "raised" not in message or "\nHint: " in message, message
