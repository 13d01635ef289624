"""Keller Jordan's airbench94 in PyTorch, run on the CPU on a CIFAR-10 copy, as a yardstick for airnet.

airbench94 (https://github.com/KellerJordan/cifar10-airbench, MIT) reaches 94% on the original CIFAR-10 in about
ten epochs, with six-view test-time augmentation. This is its recipe re-typed for the CPU: the same net (2x2
whitening stem, three conv-pool-BN-GELU blocks of 64/256/256, logits / 9), the same hyperparameters (SGD-Nesterov on
summed losses, 64x rate for the batch-norm offsets, label smoothing 0.2, alternating flips, 2-pixel reflect
translations, Lookahead) and the same evaluation, on float32 or bfloat16 CPU autocast instead of CUDA half.

It answers one question: how much of the gap between edgecls' airnet and airbench's published 94% is the data
(``../shared``'s CIFAR-10 is JPEG-compressed) and how much is the port. It needs PyTorch, which edgecls does not
depend on:

    python -m venv /tmp/torch && /tmp/torch/bin/pip install torch -e .   # edgecls' base install, no TensorFlow
    /tmp/torch/bin/python bench/airbench_reference.py --data ../shared/datasets/cifar10-jpeg.zip [--preset airbench95]

``--data`` is any CIFAR-10 source edgecls reads: the class-folder zip above, ``cifar10:PATH`` for the official
python tarball, or ``cifar10`` to download it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
HYP = dict(batch_size=1024, lr=11.5, momentum=0.85, weight_decay=0.0153, bias_scaler=64.0, label_smoothing=0.2,
           whiten_bias_epochs=3, translate=2, widths=(64, 256, 256), bn_momentum=0.6, scale=1 / 9, epochs=9.9)
# airbench95: the same recipe wider, at a lower rate, for 15 epochs (95.01% published, about 4x the compute)
PRESETS = {"airbench94": {}, "airbench95": dict(lr=10.0, widths=(128, 384, 384), epochs=15)}


def load(data: str):
    """Train and test images as normalized NCHW float tensors with their labels, read by edgecls."""
    from edgecls.data import DataOptions, load_dataset
    from edgecls.data.decode import decode_split
    from edgecls.errors import EdgeclsError

    dataset = load_dataset(data, DataOptions(progress=False))
    if tuple(dataset.classes) != CLASSES:
        raise EdgeclsError(f"{data}: classes {', '.join(dataset.classes)}, not CIFAR-10's")
    out = []
    for split in ("train", "test"):
        images, labels, skipped = decode_split(dataset.split(split), (32, 32))
        for path, reason in skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        x = torch.tensor(images).float().div(255).permute(0, 3, 1, 2)
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        out += [x.contiguous(memory_format=torch.channels_last), torch.tensor(labels)]
    return out


def build():
    class BatchNorm(nn.BatchNorm2d):
        def __init__(self, width):
            super().__init__(width, eps=1e-12, momentum=1 - HYP["bn_momentum"])
            self.weight.requires_grad = False

    class Conv(nn.Conv2d):
        def __init__(self, cin, cout, size=3, padding="same", bias=False):
            super().__init__(cin, cout, size, padding=padding, bias=bias)

        def reset_parameters(self):
            super().reset_parameters()
            if self.bias is not None:
                self.bias.data.zero_()
            w = self.weight.data
            nn.init.dirac_(w[:w.size(1)])

    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv1, self.pool, self.norm1 = Conv(cin, cout), nn.MaxPool2d(2), BatchNorm(cout)
            self.conv2, self.norm2, self.activ = Conv(cout, cout), BatchNorm(cout), nn.GELU()

        def forward(self, x):
            x = self.activ(self.norm1(self.pool(self.conv1(x))))
            return self.activ(self.norm2(self.conv2(x)))

    class Scale(nn.Module):
        def forward(self, x):
            return x * HYP["scale"]

    w = HYP["widths"]
    net = nn.Sequential(Conv(3, 24, 2, padding=0, bias=True), nn.GELU(), Block(24, w[0]), Block(w[0], w[1]),
                        Block(w[1], w[2]), nn.MaxPool2d(3), nn.Flatten(), nn.Linear(w[2], 10, bias=False), Scale())
    net[0].weight.requires_grad = False
    return net.to(memory_format=torch.channels_last)


def whiten(layer, images, eps=5e-4):
    c, (h, w) = images.shape[1], layer.weight.shape[2:]
    patches = images.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c * h * w).float()
    values, vectors = torch.linalg.eigh(patches.T @ patches / len(patches), UPLO="U")
    values, vectors = values.flip(0).view(-1, 1, 1, 1), vectors.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = vectors / torch.sqrt(values + eps)
    layer.weight.data[:] = torch.cat((scaled, -scaled))


def crop(padded, size, r):
    """Each image shifted by up to ``r`` pixels in each direction (a random crop of the reflect-padded batch)."""
    shifts = torch.randint(0, 2 * r + 1, (len(padded), 2))
    out = torch.empty((len(padded), padded.shape[1], size, size), dtype=padded.dtype)
    for sy in range(2 * r + 1):
        for sx in range(2 * r + 1):
            mask = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[mask] = padded[mask, :, sy:sy + size, sx:sx + size]
    return out.contiguous(memory_format=torch.channels_last)


def predict(net, x, tta: int, autocast):
    def mirror(v):
        return 0.5 * net(v) + 0.5 * net(v.flip(-1))

    outs = []
    with torch.no_grad(), autocast():
        for i in range(0, len(x), 2000):
            v = x[i:i + 2000]
            if tta == 0:
                outs.append(net(v).float())
            elif tta == 1:
                outs.append(mirror(v).float())
            else:
                p = F.pad(v, (1,) * 4, "reflect")
                shifted = 0.5 * mirror(p[:, :, 0:32, 0:32]) + 0.5 * mirror(p[:, :, 2:34, 2:34])
                outs.append((0.5 * mirror(v) + 0.5 * shifted).float())
    return torch.cat(outs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a CIFAR-10 source edgecls reads (zip, cifar10:PATH, cifar10)")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="airbench94")
    parser.add_argument("--epochs", type=float, help="default: the preset's (9.9 for airbench94, 15 for airbench95)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="bfloat16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    HYP.update(PRESETS[args.preset])
    if args.epochs is None:
        args.epochs = HYP["epochs"]
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.precision == "bfloat16" else torch.float32

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)

    from edgecls.errors import EdgeclsError

    try:
        x_train, y_train, x_test, y_test = load(args.data)
    except EdgeclsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"train {tuple(x_train.shape)}  test {tuple(x_test.shape)}", flush=True)

    h = HYP
    steps_per_epoch = len(x_train) // h["batch_size"]  # airbench drops the last, partial batch
    total = math.ceil(steps_per_epoch * args.epochs)
    kilostep = 1024 * (1 + 1 / (1 - h["momentum"]))
    lr = h["lr"] / kilostep
    wd = h["weight_decay"] * h["batch_size"] / kilostep
    lr_bias = lr * h["bias_scaler"]

    net = build()
    whiten(net[0], x_train[torch.randperm(len(x_train))[:5000]])  # airbench: 5,000 of its shuffled copy
    norm_biases = [p for k, p in net.named_parameters() if "norm" in k and p.requires_grad]
    others = [p for k, p in net.named_parameters() if "norm" not in k and p.requires_grad]
    optimizer = torch.optim.SGD([dict(params=norm_biases, lr=lr_bias, weight_decay=wd / lr_bias),
                                 dict(params=others, lr=lr, weight_decay=wd / lr)],
                                momentum=h["momentum"], nesterov=True)
    warm = int(total * 0.23)

    def factor(step):
        if step < warm:
            return 0.2 + 0.8 * step / warm
        return 1.0 - 0.93 * (step - warm) / (total - warm)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    alpha = 0.95 ** 5 * (torch.arange(total + 1) / total) ** 3
    ema = {k: v.clone() for k, v in net.state_dict().items()}

    def lookahead(decay):
        for e, p in zip(ema.values(), net.state_dict().values()):
            if p.dtype.is_floating_point:
                e.lerp_(p, 1 - decay)
                p.copy_(e)

    loss_fn = nn.CrossEntropyLoss(label_smoothing=h["label_smoothing"], reduction="none")
    flipped = torch.where((torch.rand(len(x_train)) < 0.5).view(-1, 1, 1, 1), x_train.flip(-1), x_train)
    padded = F.pad(flipped, (h["translate"],) * 4, "reflect")
    step, start = 0, time.perf_counter()
    for epoch in range(math.ceil(args.epochs)):
        tick = time.perf_counter()
        net[0].bias.requires_grad = epoch < h["whiten_bias_epochs"]
        net.train()
        images = crop(padded, 32, h["translate"])
        if epoch % 2 == 1:
            images = images.flip(-1)
        order = torch.randperm(len(images))
        for i in range(steps_per_epoch):
            idx = order[i * h["batch_size"]:(i + 1) * h["batch_size"]]
            with autocast():
                loss = loss_fn(net(images[idx]), y_train[idx]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 5 == 0:
                lookahead(alpha[step].item())
            if step >= total:
                lookahead(1.0)
                break
        net.eval()
        acc = (predict(net, x_test, 0, autocast).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}  {time.perf_counter() - tick:.0f}s  test {acc:.4f}", flush=True)
    minutes = (time.perf_counter() - start) / 60
    net.eval()
    for tta, name in ((0, "none"), (1, "flip"), (2, "flip + shifts (6 views)")):
        acc = (predict(net, x_test, tta, autocast).argmax(1) == y_test).float().mean().item()
        print(f"test accuracy, TTA {name}: {acc:.4f}", flush=True)
    print(f"{args.preset}: {args.epochs} epochs in {minutes:.1f} min ({args.precision}, {args.threads} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
