"""What portable numerics cost: training steps of one model under `--numerics portable` or `native`, in a fresh
process (the settings are read when the libraries load), printing images/s and the arithmetic it ran with.

    python bench/numerics.py --numerics portable --model dcgan
    python bench/numerics.py --numerics native --model small_cnn --px 64

Compare two modes as whole processes (several runs each, medians, A/B ratio) with any process timer, e.g.
`hyperfine 'python bench/numerics.py --numerics portable --model dcgan' '... native ...'`; `--mkl` overrides the
MKL code path of portable (COMPATIBLE) to measure what that one pin costs. Models: small_cnn and
tf_efficientnet_lite0 (a classifier's training step at --px), dcgan and ddpm (the generate stage's steps as
params.yaml sets them).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from finegrain import numerics  # noqa: E402  (before torch: it sets what torch reads at load)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--numerics", choices=numerics.MODES, default="portable")
    ap.add_argument("--model", default="small_cnn", help="small_cnn | tf_efficientnet_lite0 | dcgan | ddpm")
    ap.add_argument("--px", type=int, default=64, help="classifier image size")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20, help="timed steps after 3 warm-up steps")
    ap.add_argument("--threads", type=int, default=0, help="0: the mode's (portable: 2; native: torch's default)")
    ap.add_argument("--mkl", default=None, help="MKL_CBWR under portable (default COMPATIBLE), e.g. AVX2")
    return ap.parse_args(argv)


def _classifier_step(name: str, px: int, batch: int):
    import torch

    from finegrain.models.factory import create_model

    net = create_model(name, 10).train()
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x, y = torch.rand(batch, 3, px, px), torch.arange(batch) % 10

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _generator_step(method: str, batch: int):
    import torch

    from finegrain.generate.run import build_method
    from finegrain.params import load_params

    cfg = load_params(Path(__file__).resolve().parents[1] / "params.yaml").generate  # the default run's sizes
    size = getattr(cfg, method).size_px
    model = build_method(method, cfg, 6, 600)
    x, y = torch.rand(batch, 3, size, size) * 2 - 1, torch.arange(batch) % 6
    return lambda: model.train_step(x, y)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.mkl and args.numerics == "portable":
        numerics.apply("portable")
        os.environ["MKL_CBWR"] = args.mkl
    else:
        numerics.apply(args.numerics)
    import torch

    from finegrain.runtime import configure_threads

    configure_threads(args.threads, args.numerics)
    torch.manual_seed(0)
    if args.model in ("dcgan", "ddpm"):
        step = _generator_step(args.model, args.batch)
    else:
        step = _classifier_step(args.model, args.px, args.batch)
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    rate = args.steps * args.batch / (time.perf_counter() - t0)
    mkl = os.environ.get("MKL_CBWR", "-")
    print(f"{args.model} {args.px if args.model not in ('dcgan', 'ddpm') else ''}px batch {args.batch}: "
          f"{rate:.1f} img/s ({numerics.describe(numerics.record())}; MKL_CBWR {mkl})")  # fmt: skip


if __name__ == "__main__":
    main()
