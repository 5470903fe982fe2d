"""What a training run measured, epoch by epoch: the numbers the curves are drawn from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class History:
    """What a run measured: loss per logging interval, and accuracy on ``split`` after the epochs
    in ``accuracy_epoch`` (every epoch, unless ``fit`` was asked to measure only the last).

    ``split`` names the images the accuracy was measured on: ``"test"``, or ``"validation"`` when
    a part of the training set was held out (notebook 08), so a figure or a log never calls a
    validation accuracy a test accuracy.
    """

    loss_epoch: list[float] = field(default_factory=list)  # fractional epoch of each loss point
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)  # percent on ``split``
    split: str = "test"
    train_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    accuracy_epoch: list[int] = field(default_factory=list)  # the epoch each accuracy is after

    def __post_init__(self) -> None:
        if not self.accuracy_epoch:  # measured after every epoch (histories saved before 0.2)
            self.accuracy_epoch = list(range(1, len(self.accuracy) + 1))

    def to_dict(self) -> dict[str, list[float] | str]:
        """Plain lists and a string, safe for ``torch.load(weights_only=True)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> History:
        """The inverse of ``to_dict``; also reads checkpoints saved before ``split`` existed."""
        values = dict(values)
        if "test_accuracy" in values:  # the name of ``accuracy`` (on the test set) until 0.1
            values["accuracy"] = values.pop("test_accuracy")
        return cls(**values)
