"""BatchNorm over the whole batch of all ranks, on the CPU (gloo) as on GPUs.

G-net's BatchNorm normalises with the batch's mean and variance. Under torchrun each rank holds
only its rows, so plain BatchNorm would normalise every rank's share by its own statistics and
N processes would train another model than one process. ``torch.nn.SyncBatchNorm`` fixes that
on CUDA only (it refuses CPU tensors, so the gloo tests could not check it); this module does the
same with two autograd-aware all-reduces (the sum, then the sum of squared deviations: the
two-pass variance one process computes, so the results agree up to float rounding), on any
device. ``convert`` swaps it in for every BatchNorm of a module, keeping weights, buffers and
state_dict keys; with one process, or in eval mode, it is plain BatchNorm.
"""
from __future__ import annotations

import torch
import torch.distributed as tdist
from torch import nn


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed.nn.functional import all_reduce     # sums, and sums the gradients back

    return all_reduce(t)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-d input, got {x.dim()}-d")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and tdist.is_available() and tdist.is_initialized()
                and tdist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]                    # all but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        count = _all_reduce(torch.tensor(float(xf.numel() // xf.shape[1]), device=x.device))
        mean = _all_reduce(xf.sum(dims)) / count                                        # (C,)
        var = _all_reduce(((xf - mean.view(shape)) ** 2).sum(dims)) / count            # biased, as BN
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                unbiased = var.detach() * count / (count - 1).clamp(min=1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert(module: nn.Module) -> nn.Module:
    """Every BatchNorm of ``module`` replaced in place by a GlobalBatchNorm holding the same
    parameters and buffers; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert(child)
    return module
