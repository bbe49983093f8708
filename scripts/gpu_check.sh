#!/usr/bin/env bash
# GPU self-check, sized to take at most ~5 minutes on one GPU (docs/machines.md; not yet run on one):
#   1. the tiny workflow end to end on CUDA (device: cuda, runs_per_gpu: 2, --resources gpu=2):
#      every output written, each run's train.json naming its slot and GPU;
#   2. benchmarks/gpu_throughput.py: ResNet images/s at batch 128 for eager fp32, bf16,
#      channels-last, compile, and 1 against 4 runs sharing the GPU.
# Asserts only that it ran and wrote its outputs; prints the table. Outputs go to $OUT (or a
# temporary folder). Installs the project first if it is not importable.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
python -c "import cifar_nets, snakemake" 2>/dev/null || python -m pip install -q -e ".[test]"
python - <<'PY'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
print("gpu_check:", torch.cuda.get_device_name(0), "x", torch.cuda.device_count(),
      "| torch", torch.__version__, "| CUDA", torch.version.cuda, "| cuDNN", torch.backends.cudnn.version())
PY

echo "== 1. tiny workflow on CUDA"
WF="$OUT/workflow"
mkdir -p "$WF"
python - "$WF" <<'PY'
import sys, yaml
from pathlib import Path
sys.path.insert(0, "tests")
from cifar_factory import write_cifar_archive
wf = Path(sys.argv[1])
md5 = write_cifar_archive(wf / "tiny.tar.gz", per_class_train=40, per_class_test=10)
cfg = {"data": {"source": str(wf / "tiny.tar.gz"), "md5": md5, "label": "tiny test archive (GPU check)",
                "train_images": 400, "test_images": 100},
       "recipes": {"notebook": {"epochs": 3, "batch_size": 32, "lr": 3e-3}},
       "study": {"block_types": ["conv", "res", "skip"], "n_blocks": [6], "seeds": [0, 1],
                 "recipes": ["notebook"]},
       "engine": {"device": "cuda", "runs_per_gpu": 2, "train_eval_subset": 0}}
(wf / "config.yaml").write_text(yaml.safe_dump(cfg))
PY
t0=$(date +%s)
( cd "$WF" && python -m snakemake -s "$OLDPWD/Snakefile" --configfile config.yaml --cores 8 \
    --resources gpu=2 > snakemake.log 2>&1 ) || { tail -40 "$WF/snakemake.log"; exit 1; }
echo "workflow: $(( $(date +%s) - t0 )) s"
python - "$WF" <<'PY'
import json, sys
from pathlib import Path
wf = Path(sys.argv[1])
assert (wf / "results/report.html").stat().st_size > 0
for p in sorted(wf.glob("results/runs/*/*/*/*/train.json")):
    s = json.loads(p.read_text())
    print(f"{p.parent.relative_to(wf / 'results/runs')}: slot {s['gpu_slot']}, "
          f"CUDA_VISIBLE_DEVICES {s['cuda_visible_devices']}, {s['device_name']}, bf16 {s['bf16']}, "
          f"compile {s['compile']}, tf32 {s['tf32']}, {s['train_images_per_s']:.0f} img/s")
PY

echo "== 2. throughput (ResNet, batch 128)"
python benchmarks/gpu_throughput.py --device cuda --steps 200 | tee "$OUT/throughput.md"
echo "gpu_check: done (outputs in $OUT)"
