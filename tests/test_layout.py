"""One job per module, one owner per name (issue 19, items 1 and 2).

Modules stay small and import one another in one direction only (no cycle, evaluation does not
import the training loop, the torch-free lower layers import nothing above them); every hardware
question is answered by cifar_nets.machine.hardware, and one environment record, with one set of keys, is
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

# The layers, lowest first: a module imports modules of its own layer or of lower ones, never of a
# higher one. The package's root (`__init__`: the public names, the old paths) and the interface
# on top (config, the CLI) sit outside the stack.
LAYERS = ["foundation", "machine", "data", "engine", "study", "report"]
FOUNDATION = {"io", "logs", "params", "cli", "tables", "_moved"}
INTERFACE = {"config", "__main__"}
SUB_PACKAGES = set(LAYERS) - {"foundation"}


def module_name(path) -> str:
    """cifar_nets/engine/train.py -> engine.train; cifar_nets/io.py -> io."""
    rel = path.relative_to(PKG).with_suffix("")
    return ".".join(rel.parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text()) for p in sorted(PKG.rglob("*.py"))}


def layer(module: str) -> str | None:
    head = module.split(".")[0]
    if head in SUB_PACKAGES:
        return head
    return "foundation" if module in FOUNDATION else None


def package_imports(tree: ast.Module, names: set[str], top_level_only=False) -> set[str]:
    """The cifar_nets modules `tree` imports (anywhere in it, or at module level only), as
    `engine.train`; `from cifar_nets.engine import faults` is engine.faults; a name of the root
    package (`from cifar_nets import BLOCK_TYPES`) is __init__."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError("the package imports itself by absolute path (cifar_nets.engine.train)")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "cifar_nets":
            mod = node.module.removeprefix("cifar_nets").lstrip(".")
            for a in node.names:
                full = f"{mod}.{a.name}" if mod else a.name
                out.add(full if full in names else (mod or "__init__"))
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix("cifar_nets.") for a in node.names if a.name.startswith("cifar_nets.")}
    return {m for m in out if not m.endswith("__init__") or m == "__init__"}


def import_graph(top_level_only=False) -> dict[str, set[str]]:
    trees = modules()
    return {m: package_imports(t, set(trees), top_level_only) - {m} for m, t in trees.items()}


def test_no_module_is_over_about_350_lines():
    sizes = {str(p.relative_to(PKG)): len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    over = {name for name, n in sizes.items() if n > MAX_LINES}
    assert not over, {name: sizes[name] for name in over}


def test_every_module_has_a_layer():
    """A new module goes into the sub-package of its job (docs/workflow.md, "Where things go")."""
    loose = {m for m in modules() if layer(m) is None and m not in INTERFACE | {"__init__"}
             and not m.endswith("__init__")}
    assert not loose, loose


def test_no_layer_imports_a_higher_one():
    """machine < data < engine < study < report, the foundation below them all: the tree is the
    architecture (cifar_nets/__init__.py draws it)."""
    graph = import_graph()
    rank = {name: i for i, name in enumerate(LAYERS)}
    # the root's public names come from the registry modules: NUMERIC_ENGINE_KEYS (engine.recipe)
    allowed = {("__init__", "engine.recipe")}
    climbs = [(m, n) for m, deps in graph.items() for n in deps
              if layer(m) and layer(n) and rank[layer(n)] > rank[layer(m)] and (m, n) not in allowed]
    assert not climbs, climbs
    # the study is torch-free: it reads the runs' files, never the engine
    assert not {n for m, deps in graph.items() if layer(m) == "study" for n in deps if layer(n) == "engine"}


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


def test_nothing_climbs_back_up_inside_the_engine():
    graph = import_graph()
    loop = {"engine.train", "engine.run"}
    # evaluation reads weights and batches, never the training loop
    assert not graph["engine.evaluate"] & loop, graph["engine.evaluate"]
    # the building blocks of a run import nothing that uses them
    users = loop | {"engine.evaluate", "engine.batches", "engine.checkpoints", "engine.compiled", "__main__"}
    for lower in ("engine.recipe", "machine.hardware", "machine.slots", "machine.slot_files", "engine.batches",
                  "engine.compiled"):
        assert not graph[lower] & (users - {lower}), (lower, graph[lower])
    assert graph["machine.hardware"] == set(), graph["machine.hardware"]     # it asks no other module
    assert "machine.hardware" in graph["machine.slots"]                      # slots take the host's facts there


def test_the_data_layers_stack_one_way():
    """arrays (cache, split, DataError) <- fetch <- archive (the reader) <- archive_writer
    <- synthetic: each imports only the ones below it (and io), never what uses the data. Below
    them all the datasets: data.dataset (what a dataset is, the registry) and one file each in
    data/sets/, which import nothing else."""
    graph = import_graph()
    below = {"data.dataset": set(), "data.arrays": {"io", "data.dataset"},
             "data.fetch": {"data.arrays", "io"},
             "data.archive": {"data.arrays", "data.fetch", "data.dataset"},
             "data.archive_writer": {"data.archive", "io", "data.dataset"},
             "data.synthetic": {"data.archive_writer", "io", "cli"}}
    below.update({m: {"data.dataset"} for m in graph if m.startswith("data.sets.")})
    assert {"data.sets.cifar10", "data.sets.cifar100"} <= set(below), sorted(graph)
    for module, allowed in below.items():
        assert graph[module] <= allowed, (module, graph[module] - allowed)


def test_the_lower_layers_import_without_torch():
    """The Snakefile, the config and the package's __init__ read these before any job runs; the
    data modules serve the download and prepare jobs and the synthetic-archive CLI, which do not
    pay for torch."""
    code = ("import sys, cifar_nets, cifar_nets.engine.recipe, cifar_nets.machine.hardware, cifar_nets.machine.slots, "
            "cifar_nets.data.arrays, cifar_nets.data.fetch, cifar_nets.data.archive, cifar_nets.data.synthetic; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "print(cifar_nets.NUMERIC_ENGINE_KEYS is cifar_nets.engine.recipe.NUMERIC_ENGINE_KEYS)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_one_name_one_function():
    """No two modules (nor two rule files, nor a rule file and a module) define a public function
    or class of one name: hardware's thread cap is capped_threads, policy's threads_for the
    plan, rules/resources.smk's job_threads the rules' callable."""
    owners: dict[str, list[str]] = {}
    for name, tree in modules().items():
        if name == "_moved" or name.endswith("__init__"):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                owners.setdefault(node.name, []).append(name)
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for fn in re.findall(r"^def (\w+)", smk.read_text(), re.M):
            owners.setdefault(fn, []).append(f"rules/{smk.name}")
    shared = {n: m for n, m in owners.items() if len(m) > 1 and n != "main"}
    assert not shared, shared


# --------------------------------------------------------------------------- the rule files

SMK = ROOT / "rules"


def smk_functions(name: str) -> list[str]:
    return re.findall(r"^def (\w+)", (SMK / name).read_text(), re.M)


def test_common_smk_holds_paths_and_input_functions_only():
    """rules/common.smk is config to paths, wildcards, input and params functions and the final
    outputs (under 200 lines): the seed rounds are rules/seeds.smk's, threads, GPUs and cores
    rules/resources.smk's, what happens while the Snakefile loads rules/setup.smk's."""
    text = (SMK / "common.smk").read_text()
    assert len(text.splitlines()) < 200
    logic = re.compile(r"seed|round|thread|gpu|core|device|runtime|pending|advise|^_?check_")
    assert not [fn for fn in smk_functions("common.smk") if logic.search(fn) and fn != "split_seed"]
    for needle in ("(workflow", "workflow.", "checkpoints.", "os.path.exists", "sys.", "logger",
                   "cifar_nets.machine", "study.seeds", "check_round", "WorkflowError"):
        assert needle not in text, needle
    # at module level it only names things: no call whose result is thrown away (a check, a set)
    bare_calls = re.findall(r"^[A-Za-z_][\w.]*\(.*$", text, re.M)
    assert not bare_calls, bare_calls


def test_only_setup_smk_sets_state_while_the_snakefile_loads():
    """sys.path, the config and Snakemake's cores are changed in rules/setup.smk only, and the
    Snakefile includes it first."""
    setters = re.compile(r"sys\.path\.|config\.(clear|update|pop|setdefault)\(|config\[[^]]+\]\s*=|"
                         r"cap_cores\(|default_cores\(|global_resources|resource_settings")
    for smk in SMK.glob("*.smk"):
        if smk.name != "setup.smk":
            assert not setters.search(smk.read_text()), smk.name
    setup = (SMK / "setup.smk").read_text()
    assert setters.search(setup) and not smk_functions("setup.smk")
    includes = re.findall(r'^include: "rules/(\w+\.smk)"', (ROOT / "Snakefile").read_text(), re.M)
    assert includes[0] == "setup.smk" and sorted(includes) == sorted(p.name for p in SMK.glob("*.smk"))


def test_the_rule_files_wrap_the_package():
    """The seed-round and device policy live in the package; the rule files hand it Snakemake's
    objects: no thread plan, slot, round-file reading or core cap computed in a .smk."""
    text = "\n".join(p.read_text() for p in SMK.glob("*.smk"))
    code = re.sub(r"#.*", "", text)
    for inline in ("cpu_thread_plan(", "gpu_resource_advice(", "gpu_ids_error(", "device_error(",
                   "usable_cpus() if", "seeds_after(", "round_is_final(", "train_minutes(",
                   "while ", "os.path.exists("):
        assert inline not in code, inline


def _engine_key_lists(tree, keys) -> list[int]:
    """Lines of `tree` with a tuple, list or set of two or more strings that are all engine keys."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2
            and all(isinstance(e, ast.Constant) and e.value in keys for e in node.elts)]


def test_the_result_changing_engine_keys_are_listed_once():
    """NUMERIC_ENGINE_KEYS (engine/recipe.py) is the one list of the engine keys that change
    results: no other module, job script or rule file lists engine keys; the rules pass them
    through rules/common.smk numeric_engine, the job scripts take them back with job_engine."""
    from cifar_nets.config import load_config
    keys = set(load_config()["engine"])
    found = {}
    for path in [*PKG.rglob("*.py"), *(ROOT / "workflow_scripts").glob("*.py")]:
        lines = _engine_key_lists(ast.parse(path.read_text()), keys)
        if lines and path != PKG / "engine" / "recipe.py":
            found[str(path.relative_to(ROOT))] = lines
    key = "[\"']({})[\"']".format("|".join(keys))
    for smk in SMK.glob("*.smk"):     # two quoted engine keys in a row: "bf16", "tf32"
        named = re.findall(rf"{key}\s*,\s*{key}", smk.read_text())
        if named:
            found[f"rules/{smk.name}"] = named
    assert not found, found
    for script in ("train.py", "evaluate.py"):
        text = (ROOT / "workflow_scripts" / script).read_text()
        assert "job_engine(config[\"engine\"]" in text and "params.engine" in text, script
    for smk in ("train.smk", "tune.smk", "evaluate.smk"):
        assert "engine=numeric_engine()," in (SMK / smk).read_text(), smk


def test_mps_is_probed_one_way(monkeypatch):
    from cifar_nets.machine import hardware
    monkeypatch.setattr(hardware, "mps_available", lambda: True)
    monkeypatch.setattr(hardware, "local_gpu_count", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert hardware.local_accelerator.__wrapped__() == "mps"      # what the Snakefile plans with
    assert hardware.resolve_device("auto").type == "mps"           # what the job then trains on
    text = "\n".join(p.read_text() for p in PKG.rglob("*.py"))
    assert text.count("mps.is_available()") == 1


# --------------------------------------------------------------------------- the environment record

def test_the_environment_record_has_one_key_set():
    from cifar_nets.machine.hardware import ENVIRONMENT_KEYS, environment_record
    node, run = environment_record(), environment_record(torch.device("cpu"))
    assert tuple(node) == tuple(run) == ENVIRONMENT_KEYS
    assert {"host", "cuda", "cpus_usable", "device_name", "torch"} <= set(ENVIRONMENT_KEYS)
    assert not {"hostname", "cuda_version", "cpu_count_usable"} & set(ENVIRONMENT_KEYS)
    assert node["device"] is None and run["device"] == "cpu" and run["device_name"]
    assert run["torch"] == torch.__version__ and run["cuda"] == torch.version.cuda


def test_train_json_and_metrics_json_use_the_record():
    from cifar_nets.machine.hardware import ENVIRONMENT_KEYS, environment_record
    from cifar_nets.engine.train import train_run
    from workflow_helpers import engine, recipe, spec, tiny_training_set
    res = train_run(*tiny_training_set(seed=1),
                    spec("conv", n_blocks=0, recipe=recipe(epochs=1, batch_size=50)),
                    engine(device="cpu", train_eval_subset=0), log=lambda m: None, progress=False)
    record = environment_record(torch.device("cpu"))
    assert {k: res.summary[k] for k in ENVIRONMENT_KEYS} == record
    # metrics.json: the evaluate job writes the same record for its device
    script = (ROOT / "workflow_scripts/evaluate.py").read_text()
    assert re.search(r"^from cifar_nets.machine.hardware import .*environment_record", script, re.M)


def test_the_report_node_uses_the_one_record():
    script = (ROOT / "workflow_scripts/report.py").read_text()
    assert "environment=environment_record()" in script
    assert not (ROOT / "cifar_nets/sysinfo.py").exists()


# --------------------------------------------------------------------------- fault injection

def test_the_engine_names_its_fault_injection_in_one_place():
    """The engine emits named events through its one hook (engine.hooks) and knows nothing of the
    fault tests: no module but hooks.py (which installs faults.py as the hook when a process is
    asked to misbehave) refers to `faults`, and the events are the few that hooks.py lists."""
    engine = {p.name: p.read_text() for p in (PKG / "engine").glob("*.py")}
    naming = {name for name, text in engine.items() if re.search(r"\bfaults\b", text)}
    assert naming <= {"hooks.py", "faults.py"}, naming
    graph = import_graph()
    assert graph["engine.hooks"] == {"engine.faults"} and graph["engine.faults"] == set()
    emitted = {name: re.findall(r"hooks\.emit\(\"(\w+)\"", text) for name, text in engine.items()}
    emitted = {name: events for name, events in emitted.items() if events}
    assert emitted == {"train.py": ["step_end", "epoch_end"], "checkpoints.py": ["checkpoint_temp_written"],
                       "compiled.py": ["compile_first_step"], "evaluate.py": ["test_predicted"]}, emitted
    listed = re.findall(r"^    (\w+)  ", engine["hooks.py"], re.M)
    assert sorted(listed) == sorted(e for events in emitted.values() for e in events), listed
