import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.augmentation import (
    RandomAffine,
    RandomShift,
    affine,
    affine_matrices,
    background,
    translate,
)

FILL = background("mnist")
# Bilinear resampling in float32: the sampling points land within about 1e-6 of a pixel centre, so
# a whole-pixel move mixes in up to 1e-6 of a neighbour; on randn images that is up to ~2e-5.
RESAMPLING = {"atol": 1e-4, "rtol": 1e-5}


def test_background_is_a_black_pixel_after_normalize():
    assert FILL == pytest.approx((0 - 0.1307) / 0.3081)
    assert background("fashion") == pytest.approx(-0.2860 / 0.3530)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        background("cifar")


def test_translate_moves_each_image_by_its_own_shift():
    images = torch.randn(3, 1, 6, 5)
    out = translate(images, torch.tensor([[1, 2], [-2, 0], [0, -1]]), fill=FILL)
    # image 0: one down, two right
    assert torch.equal(out[0, 0, 1:, 2:], images[0, 0, :-1, :-2])
    assert (out[0, 0, 0, :] == FILL).all() and (out[0, 0, :, :2] == FILL).all()
    # image 1: two up
    assert torch.equal(out[1, 0, :-2], images[1, 0, 2:]) and (out[1, 0, -2:] == FILL).all()
    # image 2: one left
    assert torch.equal(out[2, 0, :, :-1], images[2, 0, :, 1:]) and (out[2, 0, :, -1] == FILL).all()


def test_translate_by_zero_is_the_identity_and_keeps_channels_last():
    images = torch.randn(4, 3, 7, 7).contiguous(memory_format=torch.channels_last)
    out = translate(images, torch.zeros(4, 2, dtype=torch.long))
    assert torch.equal(out, images)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_translate_matches_a_padded_crop_with_functional_pad():
    images = torch.randn(2, 2, 8, 8)
    down, right = -1, 3
    padded = F.pad(images, (3, 3, 3, 3), value=0.5)
    by_hand = padded[:, :, 3 - down:3 - down + 8, 3 - right:3 - right + 8]
    out = translate(images, torch.tensor([[down, right], [down, right]]), fill=0.5)
    assert torch.equal(out, by_hand)


def test_translate_refuses_bad_input():
    with pytest.raises(ValueError, match=r"images must be a batch \(N, C, H, W\)"):
        translate(torch.zeros(28, 28), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shifts must be integers of shape \(2, 2\)"):
        translate(torch.zeros(2, 1, 4, 4), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"shifts must be integers of shape \(2, 2\)"):
        translate(torch.zeros(2, 1, 4, 4), torch.zeros(3, 2, dtype=torch.long))


def test_affine_identity_returns_the_images():
    images = torch.randn(5, 1, 28, 28)
    identity = affine_matrices(torch.zeros(5), torch.ones(5), torch.zeros(5, 2))
    torch.testing.assert_close(identity, torch.eye(2, 3).expand(5, 2, 3))
    torch.testing.assert_close(affine(images, identity, fill=FILL), images, **RESAMPLING)


def test_affine_shift_by_whole_pixels_equals_translate():
    images = torch.randn(3, 1, 28, 28)
    shifts = torch.tensor([[1, 2], [-2, 0], [3, -3]])
    matrices = affine_matrices(torch.zeros(3), torch.ones(3), shifts.float() / 28)
    torch.testing.assert_close(affine(images, matrices, fill=FILL), translate(images, shifts, FILL),
                               **RESAMPLING)


def test_affine_quarter_turn_equals_rot90():
    images = torch.randn(2, 1, 28, 28)
    quarter = affine_matrices(torch.full((2,), 90.0), torch.ones(2), torch.zeros(2, 2))
    torch.testing.assert_close(affine(images, quarter), torch.rot90(images, 1, dims=(2, 3)),
                               **RESAMPLING)


def test_affine_zoom_by_two_magnifies_the_centre():
    images = torch.zeros(1, 1, 8, 8)
    images[0, 0, 3:5, 3:5] = 1.0  # a 2x2 square in the middle
    matrices = affine_matrices(torch.zeros(1), torch.full((1,), 2.0), torch.zeros(1, 2))
    zoomed = affine(images, matrices)
    # the square is now about 4x4 pixels: its mass grows four-fold, its centre stays put
    assert zoomed.sum().item() == pytest.approx(4 * images.sum().item(), rel=0.01)
    assert zoomed[0, 0, 3:5, 3:5].min().item() == pytest.approx(1.0)


def test_affine_refuses_bad_shapes():
    with pytest.raises(ValueError, match=r"matrices must have shape \(2, 2, 3\)"):
        affine(torch.zeros(2, 1, 4, 4), torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="need angles"):
        affine_matrices(torch.zeros(2), torch.ones(3), torch.zeros(2, 2))


def test_random_shift_draws_from_the_global_generator_within_bounds():
    images = torch.randn(64, 1, 28, 28)
    torch.manual_seed(0)
    first = RandomShift(max_shift=2)(images)
    torch.manual_seed(0)
    assert torch.equal(RandomShift(max_shift=2)(images), first)  # reproducible from the seed
    torch.manual_seed(0)
    shifts = torch.randint(-2, 3, (64, 2))
    assert torch.equal(first, translate(images, shifts, FILL))
    assert not torch.equal(first, images)
    assert torch.equal(RandomShift(max_shift=0)(images), images)
    with pytest.raises(ValueError, match="max_shift must be a whole number"):
        RandomShift(max_shift=1.5)


def test_random_affine_keeps_shape_layout_and_digit_mass():
    images = torch.full((16, 1, 28, 28), FILL)
    images[:, :, 10:18, 10:18] = 2.0  # a bright square well inside the frame
    images = images.contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    out = RandomAffine(degrees=10, scale=0.1, translate=0.1)(images)
    assert out.shape == images.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert (out >= FILL - 1e-5).all() and (out <= 2.0 + 1e-5).all()  # bilinear never overshoots
    corners = out[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    torch.testing.assert_close(corners, torch.full_like(corners, FILL))  # background stays black
    mass = (out - FILL).sum(dim=(1, 2, 3)) / (images - FILL).sum(dim=(1, 2, 3))
    assert ((mass > 0.75) & (mass < 1.3)).all()  # a zoom of 0.9..1.1 changes the area by <= 21 %
    assert not torch.allclose(out, images)
    with pytest.raises(ValueError, match="need degrees >= 0"):
        RandomAffine(scale=1.5)
