"""Tests of qser_core.config: the one typed experiment configuration."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from qser_core.config import _SECTIONS, STAGE_SECTIONS, QserConfig, load_config
from qser_core.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[1] / "qser_core"


class TestDefaults:
    def test_defaults_are_valid_and_describe_the_embedded_default(self):
        cfg = QserConfig()
        assert cfg.data.dataset == "demo"
        assert cfg.embedding.backbone == "efficientnet-lite0"
        assert (cfg.head.kind, cfg.head.executor) == ("quantum", "torch")  # the fast simulator trains by default
        assert QserConfig.from_dict({}) == cfg == QserConfig.from_toml_text(cfg.to_toml())

    def test_frozen(self):
        with pytest.raises(AttributeError):
            QserConfig().reduce.n_qubits = 3  # type: ignore[misc]


class TestOverrides:
    def test_values_are_parsed_by_field_type(self):
        cfg = QserConfig().with_overrides(
            ["reduce.n_qubits=4", "train.lr=0.5", "head.ansatz=basic", "train.seeds=0,1,2", "data.data_dir=/x=y"]
        )
        assert cfg.reduce.n_qubits == 4 and isinstance(cfg.reduce.n_qubits, int)
        assert cfg.train.lr == 0.5
        assert cfg.head.ansatz == "basic"
        assert cfg.train.seeds == (0, 1, 2)
        assert cfg.data.data_dir == "/x=y"

    @pytest.mark.parametrize(
        "override, match",
        [
            ("reduce.n_qubits=20", r"reduce.n_qubits must be between 2 and 12; got 20"),
            ("reduce.n_qubits=four", r"reduce.n_qubits must be int; got 'four'"),
            ("head.foo=1", r"unknown config field head.foo; fields of \[head\] are"),
            ("nosuch.x=1", r"unknown config section 'nosuch'"),
            ("head.ansatz=ring", r"head.ansatz must be one of basic, strong, hea; got 'ring'"),
            ("n_qubits=3", r"override must look like section.field=value"),
            ("train.seeds=", r"train.seeds must list at least one seed"),
            ("data.dataset=crema-d", r"data.data_dir is empty"),
        ],
    )
    def test_bad_overrides_name_the_field_and_the_allowed_values(self, override, match):
        with pytest.raises(ConfigError, match=match):
            QserConfig().with_overrides([override])

    def test_config_error_is_a_value_error(self):
        with pytest.raises(ValueError):
            QserConfig().with_overrides(["reduce.n_qubits=1"])


class TestToml:
    def test_round_trip(self, tmp_path):
        cfg = QserConfig().with_overrides(["head.n_layers=5", "train.seeds=3,4", "data.dataset=emodb", "data.data_dir=/d"])
        path = tmp_path / "exp.toml"
        path.write_text(cfg.to_toml())
        assert QserConfig.from_toml(path) == cfg
        assert load_config(path, ["head.n_layers=6"]).head.n_layers == 6

    def test_partial_file_keeps_other_defaults(self, tmp_path):
        path = tmp_path / "exp.toml"
        path.write_text("[reduce]\nn_qubits = 3\n")
        cfg = QserConfig.from_toml(path)
        assert cfg.reduce.n_qubits == 3 and cfg.head == QserConfig().head

    def test_missing_and_invalid_files(self, tmp_path):
        with pytest.raises(ConfigError, match="does not exist"):
            QserConfig.from_toml(tmp_path / "none.toml")
        bad = tmp_path / "bad.toml"
        bad.write_text("[reduce\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            QserConfig.from_toml(bad)
        wrong = tmp_path / "wrong.toml"
        wrong.write_text('[reduce]\nn_qubits = "many"\n')
        with pytest.raises(ConfigError, match="reduce.n_qubits must be of type int"):
            QserConfig.from_toml(wrong)


    def test_text_source_is_named_in_errors(self):
        assert QserConfig.from_toml_text("[reduce]\nn_qubits = 5\n").reduce.n_qubits == 5
        with pytest.raises(ConfigError, match="upload.toml is not valid TOML"):
            QserConfig.from_toml_text("[reduce", source="upload.toml")


class TestRenamedFields:
    """``head.simulator`` (before the executor registry) still reads as ``head.executor``."""

    def test_old_toml_key(self):
        cfg = QserConfig.from_toml_text('[head]\nsimulator = "default.qubit"\n')
        assert cfg.head.executor == "default.qubit"
        assert "simulator" not in cfg.to_toml() and 'executor = "default.qubit"' in cfg.to_toml()

    def test_old_override(self):
        assert QserConfig().with_overrides(["head.simulator=lightning.qubit"]).head.executor == "lightning.qubit"

    def test_both_names_must_agree(self):
        assert QserConfig.from_dict({"head": {"simulator": "torch", "executor": "torch"}}).head.executor == "torch"
        with pytest.raises(ConfigError, match="head.simulator is the old name of head.executor; give only "
                                              "head.executor .got simulator='torch' and executor='default.qubit'."):
            QserConfig.from_dict({"head": {"simulator": "torch", "executor": "default.qubit"}})

    def test_empty_executor(self):
        with pytest.raises(ConfigError, match="head.executor must name an executor"):
            QserConfig().with_overrides(["head.executor="])


# Every field spelled out, so that a change of a default elsewhere does not move the pins below
EXPLICIT = """
[data]
dataset = "emodb"
data_dir = "/corpora/emodb"
val_fraction = 0.2
test_fraction = 0.25
n_folds = 5
split_seed = 3
[audio]
sr = 16000
duration = 2.5
top_db = 30.0
max_seconds = 20.0
[features]
n_fft = 512
hop_length = 128
n_mels = 48
fmin = 60.0
fmax = 7600.0
[embedding]
backbone = "panns-cnn10"
batch_size = 16
cache_dir = "/cache"
[reduce]
n_qubits = 6
method = "pls"
[head]
kind = "quantum"
encoding = "reupload"
ansatz = "hea"
n_layers = 3
hidden = 16
executor = "default.qubit"
noise_aware = true
noise_backend = "ibm_torino"
noise_scale = 0.5
noise_shots = 512
[train]
epochs = 50
lr = 0.01
batch_size = 32
patience = 10
weight_decay = 0.0001
seeds = [0, 1]
trainable_blocks = 2
tune = false
[hardware]
backend = "ibm_torino"
shots = 2048
optimization_level = 2
instance = "crn:v1:bluemix:public:quantum-computing:us-east:a/0123::"
primitive = "sampler"
resilience_level = 1
dynamical_decoupling = false
readout = "none"
transpile_trials = 4
layout = [3, 5, 7]
clips = 8
recalibrate = 12
noise_scale = 0.5
"""

#: Cache keys of EXPLICIT. A change here means every cache entry of that stage is recomputed (and
#: recorded runs get new digests): update a pin only when a field was added, removed or renamed on purpose.
PINNED = {
    "embeddings": "a90c9b21d546fd0e",
    "features": "bd7da3fccafb0d95",
    "reduction": "0e0669adc90fdbf3",
    "run": "4b3c941469b90d59",  # head.noise_* added with noise_aware on (off: a3f53381646c632b, unchanged)
}


def _changed(value):
    """Another valid value of the same type (the field's validation decides what is valid)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, tuple):
        return value + (value[-1] + 1,)
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.9 if value else 0.001
    return {"emodb": "ravdess", "panns-cnn10": "panns-cnn6", "reupload": "angle-rx", "hea": "basic",
            "quantum": "mlp", "default.qubit": "torch", "pls": "pca", "ibm_torino": "ibm_fez",
            "sampler": "estimator", "none": "mthree"}.get(value, value + "x")


def _variants():
    """(section, field, config with only that field changed) for every field of EXPLICIT."""
    base = QserConfig.from_toml_text(EXPLICIT)
    for section in _SECTIONS:
        for f in dataclasses.fields(getattr(base, section)):
            yield section, f.name, base.replace(section, **{f.name: _changed(getattr(getattr(base, section), f.name))})


class TestHardwareConfig:
    def test_defaults_are_the_cli_defaults(self):
        hw = QserConfig().hardware
        assert (hw.primitive, hw.resilience_level, hw.dynamical_decoupling, hw.readout) == ("estimator", 1, False, "none")
        assert (hw.layout, hw.clips, hw.recalibrate, hw.noise_scale) == ((), 0, 0, 1.0)
        from qser_core.hardware.options import TRANSPILE_TRIALS

        assert hw.transpile_trials == TRANSPILE_TRIALS

    @pytest.mark.parametrize("override, match", [
        ("hardware.primitive=qaoa", r"hardware.primitive must be one of estimator, sampler; got 'qaoa'"),
        ("hardware.resilience_level=3", r"hardware.resilience_level must be between 0 and 2; got 3"),
        ("hardware.dynamical_decoupling=maybe", r"hardware.dynamical_decoupling must be bool; got 'maybe'"),
        ("hardware.readout=trex", r"hardware.readout must be one of none, mthree; got 'trex'"),
        ("hardware.readout=mthree", r"hardware.readout must be none with the estimator primitive .*; got "
                                    r"readout='mthree' with primitive='estimator'\. Set hardware.primitive=sampler"),
        ("hardware.transpile_trials=0", r"hardware.transpile_trials must be between 1 and 64; got 0"),
        ("hardware.layout=1,x", r"hardware.layout must be a list of integers; got '1,x'"),
        ("hardware.layout=4,4,5", r"hardware.layout must be distinct physical qubit numbers ≥ 0 .*; got \[4, 4, 5\]"),
        ("hardware.layout=-1,2", r"hardware.layout must be distinct physical qubit numbers ≥ 0"),
        ("hardware.clips=-1", r"hardware.clips must be between 0 and 1000000; got -1"),
        ("hardware.recalibrate=-5", r"hardware.recalibrate must be between 0 and 1000000; got -5"),
        ("hardware.noise_scale=-0.5", r"hardware.noise_scale must be a finite number ≥ 0 .*; got -0.5"),
        ("hardware.noise_scale=inf", r"hardware.noise_scale must be a finite number ≥ 0"),
    ])
    def test_each_field_is_validated(self, override, match):
        with pytest.raises(ConfigError, match=match):
            QserConfig().with_overrides([override])

    def test_valid_knobs_parse(self):
        hw = QserConfig().with_overrides(["hardware.primitive=sampler", "hardware.readout=mthree",
                                          "hardware.layout=[4, 5, 6]", "hardware.noise_scale=0"]).hardware
        assert (hw.primitive, hw.readout, hw.layout, hw.noise_scale) == ("sampler", "mthree", (4, 5, 6), 0.0)


class TestDigest:
    def test_explicit_config_spells_out_every_field(self):
        spelled = QserConfig.from_toml_text(EXPLICIT).to_toml()
        assert spelled.count(" = ") == EXPLICIT.count(" = ")

    @pytest.mark.parametrize("stage", sorted(STAGE_SECTIONS))
    def test_pinned_keys(self, stage):
        assert QserConfig.from_toml_text(EXPLICIT).cache_key(stage) == PINNED[stage], (
            f"the {stage} cache key of a fixed config changed: a field in {STAGE_SECTIONS[stage]} was added, "
            "removed, renamed or hashed differently; if that was on purpose, update PINNED"
        )

    @pytest.mark.parametrize("stage", sorted(STAGE_SECTIONS))
    def test_a_key_moves_exactly_with_the_fields_it_covers(self, stage):
        base = QserConfig.from_toml_text(EXPLICIT)
        for section, name, changed in _variants():
            inside = section in STAGE_SECTIONS[stage] and name not in _SECTIONS[section]._not_in_key
            moved = changed.cache_key(stage) != base.cache_key(stage)
            assert moved == inside, f"{section}.{name} {'should' if inside else 'should not'} change the {stage} key"

    def test_noise_fields_off_keep_the_keys_from_before_they_existed(self):
        # head.noise_* count only when noise_aware is on, so every ideal run keeps its recorded digest
        off = QserConfig.from_toml_text(EXPLICIT.replace("noise_aware = true", "noise_aware = false"))
        assert off.cache_key("run") == "a3f53381646c632b"

    def test_only_speed_and_account_fields_are_left_out_of_keys(self):
        # pinned: the test above trusts this list, so moving a result-changing field into it must fail here
        assert _SECTIONS["embedding"]._not_in_key == ("batch_size", "cache_dir")
        # how a hardware run executes, not which experiment it is: sweep and run keys hash the whole config
        assert _SECTIONS["hardware"]._not_in_key == (
            "instance", "primitive", "resilience_level", "dynamical_decoupling", "readout", "transpile_trials",
            "layout", "clips", "recalibrate", "noise_scale")

    def test_hardware_knobs_leave_experiment_keys_unchanged(self):
        # the full digest names sweep cells, sweeps and tracked runs: pinned at its value before the knobs existed
        base = QserConfig()
        assert base.digest() == "8a11f4dc98c28a28"
        knobs = ["hardware.primitive=sampler", "hardware.primitive=sampler;hardware.readout=mthree", "hardware.resilience_level=2",
                 "hardware.dynamical_decoupling=true", "hardware.transpile_trials=3", "hardware.layout=4,5,6",
                 "hardware.clips=10", "hardware.recalibrate=20", "hardware.noise_scale=0.25"]
        for knob in knobs:
            changed = base.with_overrides(knob.split(";"))
            assert changed != base and changed.digest() == base.digest(), knob
            assert all(changed.cache_key(stage) == base.cache_key(stage) for stage in STAGE_SECTIONS), knob

    def test_unknown_stage(self):
        with pytest.raises(ConfigError, match="stage must be one of embeddings, features, reduction, run; got 'pca'"):
            QserConfig().cache_key("pca")



def test_library_never_imports_streamlit():
    """qser_core is a UI-free library: no module may import streamlit."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "streamlit" for name in names):
                offenders.append(str(path.relative_to(PACKAGE.parent)))
    assert not offenders, f"qser_core must not import streamlit: {offenders}"


def _imports(path: Path) -> set[str]:
    """qser_core modules a file imports, at load time or inside its functions (``TYPE_CHECKING`` ones aside)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    stack = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                # ``from pkg import submodule`` depends on the submodule, not on pkg/__init__
                path_of = PACKAGE.parent / f"{base}.{alias.name}".replace(".", "/")
                is_module = path_of.with_suffix(".py").exists() or path_of.is_dir()
                found.add(f"{base}.{alias.name}" if is_module else base)
    return {name for name in found if name.split(".")[0] == "qser_core" and name != module}


def test_library_has_no_import_cycle():
    """Imports between qser_core modules form a DAG.

    Imports inside functions count too: a lazy import that hides a cycle still makes two modules
    depend on each other (as heads/classical.py and heads/quantum.py once did).
    """
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = _imports(path)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path + [node, dep]
            if dep in graph and dep not in state and (cycle := visit(dep, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            pytest.fail("import cycle: " + " -> ".join(cycle[cycle.index(cycle[-1]):]))



class TestSeedsAndFiles:
    @pytest.mark.parametrize(("override", "message"), [
        ("data.split_seed=-3", r"data.split_seed must be between 0 and 4294967295; got -3"),
        ("data.split_seed=4294967296", r"data.split_seed must be between 0 and 4294967295"),
        ("train.seeds=0,-1", r"train.seeds must each be between 0 and 4294967295; got -1"),
    ])
    def test_seeds_out_of_numpy_range(self, override, message):
        with pytest.raises(ConfigError, match=message):
            QserConfig().with_overrides([override])

    def test_config_that_is_a_folder(self, tmp_path):
        with pytest.raises(ConfigError, match=r"is a folder, not a TOML file; give the file itself"):
            load_config(tmp_path)


class TestNearestExisting:
    def test_the_path_itself_or_its_nearest_existing_parent(self, tmp_path):
        from qser_core.config import nearest_existing

        (tmp_path / "a").mkdir()
        (tmp_path / "f").write_text("x")
        assert nearest_existing(tmp_path / "a") == tmp_path / "a"
        assert nearest_existing(tmp_path / "a" / "new" / "deeper") == tmp_path / "a"
        assert nearest_existing(tmp_path / "f" / "below") == tmp_path / "f"  # a file: the path cannot be a folder
