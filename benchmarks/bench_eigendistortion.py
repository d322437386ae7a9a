"""Fisher-vector products for a block of k vectors vs. k bare forward+backward passes.

OnOff(31, pretrained) at 64x64 and 256x256; also the double-backward way with the
graph traced again for every product (ours traces it once per image). Ratios from one run,
interleaved. Usage: python benchmarks/bench_eigendistortion.py [--k 4]
"""

import argparse

import torch
from _record import figure
from bench_synthesis import interleaved_medians

import pipeline as po
from pipeline.synthesis.autodiff import FisherOperator


def double_backward(model, image, vectors):
    x = image.clone().requires_grad_(True)
    y = model(x)
    dummy = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, x, dummy, create_graph=True)
    out = []
    for v in vectors:
        (jv,) = torch.autograd.grad(g, dummy, v.reshape(x.shape), retain_graph=True)
        (jtjv,) = torch.autograd.grad(y, x, jv, retain_graph=True)
        out.append(jtjv)
    return out


def measure(model, size, k):
    image = po.data.camera(size=size)
    vectors = torch.randn(k, image.numel())
    operator = FisherOperator(model, image)

    def bare():
        x = image.clone().requires_grad_(True)
        model(x).sum().backward()

    times = interleaved_medians(
        {
            "bare": bare,
            "ours": lambda: operator.matmul(vectors),
            "double": lambda: double_backward(model, image, vectors),
        },
        calls={"bare": k, "ours": 1, "double": 1},
    )
    ours, bare_k, double = times["ours"], k * times["bare"], times["double"]
    print(
        f"OnOff(31) {size}x{size}, k={k}: block Fisher-vector product "
        f"{ours * 1e3:.1f} ms / {k} x forward+backward {bare_k * 1e3:.1f} ms = "
        f"{ours / bare_k:.2f}; double-backward way {double * 1e3:.1f} ms "
        f"({double / bare_k:.2f})"
    )
    figure(
        f"Fisher-vector product, OnOff {size}², k={k} / {k} forward+backward",
        f"{ours / bare_k:.2f}",
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args()
    model = po.models.OnOff(31, pretrained=True).eval()
    po.remove_grad(model)
    for size in (64, 256):
        measure(model, size, args.k)


if __name__ == "__main__":
    main()
