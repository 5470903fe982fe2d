"""Checkers for the notebooks' exercises: run a learner's function on tricky cases, compare with
the reference (usually ``torch.nn.functional``) and say, case by case, what passed and what to look
at when it did not.

A checker never crashes on a learner's mistake: an exception (even ``exit()``), an endless loop
(stopped after a time limit), a wrong type, shape or kind of answer is reported as a failed case;
only KeyboardInterrupt, the notebook's stop button, gets through. When the learner's answer equals
what a common mistake gives (a flipped kernel, a forgotten bias, an ignored stride...), the message
names it. One module per topic; every checker is importable from here.
"""

from .backward import check_conv2d_backward, check_max_pool2d_backward
from .convolution import check_conv2d, check_pool2d
from .core import TIME_LIMIT, CaseResult, CheckReport
from .data_parallel import check_average_gradients
from .network import check_net, load_learner_net, save_learner_net
from .receptive import check_receptive_field
from .shapes import check_conv_output_size, check_size_predictions
from .training import check_evaluate, check_train_epoch
from .validation import check_validation_split

__all__ = ["CaseResult", "CheckReport", "TIME_LIMIT", "check_average_gradients", "check_conv2d",
           "check_conv2d_backward", "check_conv_output_size", "check_evaluate",
           "check_max_pool2d_backward", "check_net", "check_pool2d", "check_receptive_field",
           "check_size_predictions", "check_train_epoch", "check_validation_split",
           "load_learner_net", "save_learner_net"]
