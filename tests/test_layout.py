"""One job per module, one owner per name (issue 19, items 1 and 2).

Modules stay small and import one another in one direction only (no cycle, evaluation does not
import the training loop, the torch-free lower layers import nothing above them); every hardware
question is answered by cifar_nets.hardware, and one environment record, with one set of keys, is
what train.json, metrics.json and the report node's environment hold.
"""
import ast
import re
import subprocess
import sys

import pytest
import torch

from workflow_helpers import ROOT

PKG = ROOT / "cifar_nets"
MAX_LINES = 350


def modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in sorted(PKG.glob("*.py"))}


def package_imports(tree: ast.Module, names: set[str], top_level_only=False) -> set[str]:
    """The cifar_nets modules `tree` imports (anywhere in it, or at module level only);
    `from . import x` is module x when x is one, else the package's __init__."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 or mod == "cifar_nets" or mod.startswith("cifar_nets."):
                mod = mod.removeprefix("cifar_nets").lstrip(".") if node.level == 0 else mod
                if mod:
                    out.add(mod.split(".")[0])
                else:
                    out |= {a.name if a.name in names else "__init__" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cifar_nets.")}
    return out


def import_graph(top_level_only=False) -> dict[str, set[str]]:
    trees = modules()
    return {m: package_imports(t, set(trees), top_level_only) - {m} for m, t in trees.items()}


def test_no_module_is_over_about_350_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PKG.glob("*.py")}
    over = {name for name, n in sizes.items() if n > MAX_LINES}
    assert not over, {name: sizes[name] for name in over}


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_nothing_climbs_back_up_the_layers():
    graph = import_graph()
    loop = {"train", "run"}
    # evaluation reads weights and batches, never the training loop
    assert not graph["evaluate"] & loop, graph["evaluate"]
    # the building blocks of a run import nothing that uses them
    users = loop | {"evaluate", "batches", "checkpoints", "compiled", "__main__"}
    for lower in ("recipe", "hardware", "slots", "slot_files", "batches", "compiled"):
        assert not graph[lower] & (users - {lower}), (lower, graph[lower])
    assert graph["hardware"] == set(), graph["hardware"]     # it asks no other module
    assert "hardware" in graph["slots"]                       # slots take the host's facts there


def test_the_data_layers_stack_one_way():
    """data (arrays, cache, split, DataError) <- fetch <- archive (the reader) <- archive_writer
    <- synthetic: each imports only the ones below it (and io), never what uses the data."""
    graph = import_graph()
    below = {"data": {"io"}, "fetch": {"data", "io"}, "archive": {"data", "fetch"},
             "archive_writer": {"archive", "io"}, "synthetic": {"archive_writer", "io", "cli"}}
    for module, allowed in below.items():
        assert graph[module] <= allowed, (module, graph[module] - allowed)


def test_the_lower_layers_import_without_torch():
    """The Snakefile, the config and the package's __init__ read these before any job runs; the
    data modules serve the download and prepare jobs and the synthetic-archive CLI, which do not
    pay for torch."""
    code = ("import sys, cifar_nets, cifar_nets.recipe, cifar_nets.hardware, cifar_nets.slots, "
            "cifar_nets.data, cifar_nets.fetch, cifar_nets.archive, cifar_nets.synthetic; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "print(cifar_nets.NUMERIC_ENGINE_KEYS is cifar_nets.recipe.NUMERIC_ENGINE_KEYS)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_one_name_one_function():
    """No two modules (nor rules/common.smk) define a public function or class of one name:
    hardware's thread cap is capped_threads, common.smk's job_threads is the rules' callable."""
    owners: dict[str, list[str]] = {}
    for name, tree in modules().items():
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                owners.setdefault(node.name, []).append(name)
    for fn in re.findall(r"^def (\w+)", (ROOT / "rules/common.smk").read_text(), re.M):
        owners.setdefault(fn, []).append("rules/common.smk")
    shared = {n: m for n, m in owners.items() if len(m) > 1 and n != "main"}
    assert not shared, shared


def test_mps_is_probed_one_way(monkeypatch):
    from cifar_nets import hardware
    monkeypatch.setattr(hardware, "mps_available", lambda: True)
    monkeypatch.setattr(hardware, "local_gpu_count", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert hardware.local_accelerator.__wrapped__() == "mps"      # what the Snakefile plans with
    assert hardware.resolve_device("auto").type == "mps"           # what the job then trains on
    text = "\n".join(p.read_text() for p in PKG.glob("*.py"))
    assert text.count("mps.is_available()") == 1


# --------------------------------------------------------------------------- the environment record

def test_the_environment_record_has_one_key_set():
    from cifar_nets.hardware import ENVIRONMENT_KEYS, environment_record
    node, run = environment_record(), environment_record(torch.device("cpu"))
    assert tuple(node) == tuple(run) == ENVIRONMENT_KEYS
    assert {"host", "cuda", "cpus_usable", "device_name", "torch"} <= set(ENVIRONMENT_KEYS)
    assert not {"hostname", "cuda_version", "cpu_count_usable"} & set(ENVIRONMENT_KEYS)
    assert node["device"] is None and run["device"] == "cpu" and run["device_name"]
    assert run["torch"] == torch.__version__ and run["cuda"] == torch.version.cuda


def test_train_json_and_metrics_json_use_the_record():
    from cifar_nets.hardware import ENVIRONMENT_KEYS, environment_record
    from cifar_nets.train import train_run
    from workflow_helpers import engine, recipe, tiny_training_set
    res = train_run(*tiny_training_set(seed=1), block_type="conv", n_blocks=0, seed=0,
                    recipe=recipe(epochs=1, batch_size=50),
                    options=engine(device="cpu", train_eval_subset=0), n_hidden=32,
                    n_hidden_fc=32, log=lambda m: None, progress=False)
    record = environment_record(torch.device("cpu"))
    assert {k: res.summary[k] for k in ENVIRONMENT_KEYS} == record
    # metrics.json: the evaluate job writes the same record for its device
    script = (ROOT / "workflow_scripts/evaluate.py").read_text()
    assert re.search(r"^from cifar_nets.hardware import .*environment_record", script, re.M)


def test_the_report_node_uses_the_one_record():
    script = (ROOT / "workflow_scripts/report.py").read_text()
    assert "environment=environment_record()" in script
    assert not (ROOT / "cifar_nets/sysinfo.py").exists()
