"""Bad input fails before compute: non-zero exit, one line naming the key, nothing written."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import CONF, SHARED_DATA, cli, make_cfg, small_args

from ecosys import config

SAMPLING = ["data_quality=temp1"]
SPLITS = ("train", "valid", "test")
# {files}: the bad_files fixture's folder of corpus files, good and bad (outside tmp_path)
REAL = ["model=gpt2", "data=files", *(f"data.{s}={{files}}/text.txt" for s in SPLITS)]
COMMUNITY = [
    "model=gpt2",
    "+data@communities.wiki=files",
    *(f"communities.wiki.{s}={{files}}/text.txt" for s in SPLITS),
]

# (overrides, a string the one-line error must contain)
BAD = [
    (["diversity.m=0"], "diversity.m"),
    (["diversity=shares", "diversity.shares=[0.5,0.3,0.1]"], "sum to 1"),
    (["diversity=shares", "diversity.shares=[1.2,-0.1,-0.1]"], "diversity.shares"),
    (["diversity=shares", "diversity.m=2"], "diversity.shares"),
    (["diversity=d16", "scale.max_blocks=8"], "diversity.m"),
    (["T=0"], "T:"),
    (["seed=-1"], "seed"),
    (["train.epochs=0"], "train.epochs"),
    (["train.lr=0"], "train.lr"),
    (["train.lr=-1e-3"], "train.lr"),
    (["train.batch_size=0"], "train.batch_size"),
    (["score.batch_size=0"], "score.batch_size"),
    (["data.block_size=9"], "data.block_size"),  # 2 × 9 > the small model's 16 positions
    (["data.block_size=1"], "data.block_size"),
    (["generate.num_beams=0"], "generate.num_beams"),
    (["generate.batch_size=0"], "generate.batch_size"),
    (["generate.repetition_penalty=0"], "generate.repetition_penalty"),
    ([*SAMPLING, "generate.temperature=0"], "generate.temperature"),
    ([*SAMPLING, "generate.temperature=-1"], "generate.temperature"),
    ([*SAMPLING, "generate.top_p=0"], "generate.top_p"),
    ([*SAMPLING, "generate.top_p=1.5"], "generate.top_p"),
    ([*SAMPLING, "generate.num_beams=2"], "generate.num_beams"),
    (["data_quality.real_fraction=1.5"], "data_quality.real_fraction"),
    (["regime=accumulate", "data_quality=retrain_real"], "data_quality=retrain_real"),
    (["regime=accumulate_subsample", "data_quality=retrain_real"], "regime"),
    (["regime.keep_real=false"], "regime.keep_real"),
    (["lenses.subsample=0"], "lenses.subsample"),
    (["lenses.subsample=1"], "lenses.subsample"),
    (["data_quality.real_fraction=-0.1"], "data_quality.real_fraction"),
    (["scale.fraction=0"], "scale.fraction"),
    (["scale.fraction=1.5"], "scale.fraction"),
    (["scale.max_blocks=0"], "scale.max_blocks"),
    (["model.path=/nonexistent/model"], "model.path"),
    (["world.min_successors=40"], "world.min_successors"),
    (["model=stories260k", "model.path=/nonexistent/dir", "data=files"], "model.path"),
    (["model=smollm2-135m", "model.path=/nonexistent/m.gguf", "data=files"], "model.path"),
    (["model=smollm2-135m", "model.package=no-such-dist", "data=files"], "model.package"),
    (["model=tiny", "data=files"], "data"),
    (["data=files", "model=gpt2", "data.train=/nonexistent/train.txt"], "data.train"),
    (["data=pool"], "data.run"),
    (["data=pool", "data.run=/nonexistent/run"], "data.pool_t"),
    (["data.topics=[7]"], "data.topics"),
    (["data=ptb", "model=gpt2", "data.topics=[0]"], "data.topics"),
    (["data_quality=[beam,real10,retrain_real]"], "data_quality.real_fraction"),
    (["measure.smoothing=0"], "measure.smoothing"),
    (["measure.model_samples=1"], "measure.model_samples"),
    (["measure.model_samples=300"], "measure.model_samples"),
    # corpus files that are not text, or hold none (read before any model loads)
    ([*REAL, "data.train={files}/empty.txt"], "data.train: {files}/empty.txt is empty"),
    ([*REAL, "data.valid={files}/empty.txt"], "data.valid: {files}/empty.txt is empty"),
    ([*REAL, "data.test={files}/empty.txt"], "data.test: {files}/empty.txt is empty"),
    ([*REAL, "data.train={files}/blank.txt"], "data.train: {files}/blank.txt holds only white"),
    ([*REAL, "data.train={files}/nul.txt"], "data.train: {files}/nul.txt is binary"),
    ([*REAL, "data.valid={files}/nul.txt"], "data.valid: {files}/nul.txt is binary"),
    ([*REAL, "data.test={files}/image.png"], "data.test: {files}/image.png is binary"),
    ([*REAL, "data.test={files}/latin1.txt"], "data.test: {files}/latin1.txt is not UTF-8"),
    ([*REAL, "data.train={files}/cut.txt"], "data.train: {files}/cut.txt is not UTF-8"),
    ([*REAL, "data.valid={files}"], "data.valid: {files} is a directory"),
    ([*REAL, "data.test={files}/nothing.txt"], "data.test: {files}/nothing.txt is missing"),
    ([*COMMUNITY, "communities.wiki.train={files}/empty.txt"], "communities.wiki.train: "),
    ([*COMMUNITY, "communities.wiki.valid={files}/latin1.txt"], "communities.wiki.valid: "),
    ([*COMMUNITY, "communities.wiki.test={files}/nul.txt"], "communities.wiki.test: "),
    ([*COMMUNITY, "communities.wiki.test={files}/nothing.txt"], "communities.wiki.test: "),
    (["data=pool", "data.run={files}/run"], "data.pool_t: the pool"),  # 5 blocks: no test
    # an out_dir that cannot be a directory (checked before Hydra makes it)
    (["out_dir={files}/text.txt/runs"], "out_dir: {files}/text.txt/runs cannot be a directory"),
    (["out_dir={files}/text.txt"], "out_dir: {files}/text.txt is a file"),
    (["hydra.run.dir={files}/text.txt/run"], "hydra.run.dir: "),
    # generation values no decoding could use, refused under beam search too
    (["generate.top_p=0"], "generate.top_p"),
    (["generate.top_p=1.5"], "generate.top_p"),
    (["generate.top_p=-0.5"], "generate.top_p"),
    (["generate.temperature=0"], "generate.temperature"),
    (["generate.temperature=-0.5"], "generate.temperature"),
    (["generate.top_k=-1"], "generate.top_k"),
    ([*SAMPLING, "generate.top_k=-1"], "generate.top_k"),
    (["data_quality=nucleus0.9", "generate.top_p=0"], "generate.top_p"),
]

# What root may do anyway (these tests run as root in CI: chmod blocks nothing there).
AS_USER = [
    ([*REAL, "data.train={files}/locked.txt"], "data.train: {files}/locked.txt cannot be read"),
    (["out_dir={files}/readonly/runs"], "out_dir: {files}/readonly is not writable"),
]

# Hydra's own errors: composition fails (ecosys/__main__.py gives them the same one line).
HYDRA_BAD = [
    (["train.mixed_precision=fp8"], "train.mixed_precision"),
    (["model.dtype=int8"], "model.dtype"),
    (["tracking.mode=cloud"], "tracking.mode"),
    (["model.source=hub"], "model.source"),
    (["model.arch=bert"], "model.arch"),
    (["data.source=web"], "data.source"),
    (["generate.engine=vllm"], "generate.engine"),
    (["diversity=d3"], "diversity"),
    (["train.epochs=abc"], "train.epochs"),
    (["train.foo=1"], "foo"),
    (["train.schedule=linear"], "schedule"),
    (["train.protocol=steps"], "protocol"),
    (["diversity.segments=overlap"], "segments"),
    (["experiment=fig99"], "experiment"),
    (["regime=grow"], "regime"),
    (["regime.name=grow"], "regime.name"),
    (["lenses.cross=maybe"], "lenses.cross"),
]


GPT2 = SHARED_DATA / "tokenizers" / "gpt2"
# A small random OPT with GPT-2's BPE: these corpora fail only once tokenized, after the
# base is built in the cache and before the run dir exists (members.assemble).
TOKENS = [
    "model=opt-125m-random",
    f"model.tokenizer={GPT2}",
    "model.n_layer=1",
    "model.n_head=2",
    "data=files",
    *(f"data.{s}={{files}}/text.txt" for s in SPLITS),
]
TOKENIZED_BAD = [
    ([*TOKENS, "data.train={files}/short.txt"], "data.train: {files}/short.txt holds 2 tokens"),
    ([*TOKENS, "data.valid={files}/short.txt"], "data.valid: {files}/short.txt holds 2 tokens"),
    ([*TOKENS, "data.test={files}/short.txt"], "data.test: {files}/short.txt holds 2 tokens"),
    (
        [*TOKENS, "data.train={files}/lines.txt", "data.group_batch=1"],
        "data.train: {files}/lines.txt holds 40 tokens, but no batch",
    ),
    (
        [
            *TOKENS,
            "+data@communities.wiki=files",
            "communities.wiki.block_size=8",
            *(f"communities.wiki.{s}={{files}}/text.txt" for s in SPLITS),
            "communities.wiki.valid={files}/short.txt",
        ],
        "communities.wiki.valid: {files}/short.txt holds 2 tokens",
    ),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    """Corpus files good and bad, and paths that cannot be an out_dir."""
    root = tmp_path_factory.mktemp("files")
    rows = [f"the cat sat on the mat {i} times and then saw the old dog" for i in range(40)]
    (root / "text.txt").write_text("\n".join(rows) + "\n")  # 40 lines of 13 tokens
    (root / "short.txt").write_text("hello world\n")  # 2 GPT-2 tokens
    (root / "lines.txt").write_text("hello world\n" * 20)  # 40 tokens, 2 a line
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.txt").write_text("\n   \n\t\n")
    (root / "nul.txt").write_bytes(b"some text\x00\x00 and more\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "latin1.txt").write_bytes("un café, s'il vous plaît\n".encode("latin-1"))
    (root / "cut.txt").write_bytes("déjà".encode()[:-1])  # ends inside a character
    (root / "locked.txt").write_text("text no one may read\n")
    (root / "locked.txt").chmod(0)
    (root / "readonly").mkdir()
    (root / "readonly").chmod(0o555)
    (root / "run" / "pools").mkdir(parents=True)
    np.save(root / "run" / "pools" / "t00.npy", np.zeros((5, 8), np.int64))
    return root


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _params(cases: list, marks: tuple = ()) -> list:
    """Cases as params, their ids without the shared prefixes."""
    shared = {*REAL, *COMMUNITY, *TOKENS} - {"data=files"}
    ids = [" ".join(x for x in o if x not in shared) or " ".join(o) for o, _ in cases]
    return [pytest.param(*case, id=i, marks=marks) for case, i in zip(cases, ids, strict=True)]


def _fails_with_one_line(proc, needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ecosys: error: ")
    assert needle in lines[0], lines[0]
    assert " — " in lines[0]  # the fix follows the problem


ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes through chmod")


@pytest.mark.parametrize(
    ("overrides", "needle"), _params(BAD + HYDRA_BAD) + _params(AS_USER, (ROOT,))
)
def test_bad_value_fails_with_one_line_and_writes_nothing(tmp_path, bad_files, overrides, needle):
    overrides = [o.replace("{files}", str(bad_files)) for o in overrides]
    proc = cli(
        *small_args(tmp_path / "runs", tmp_path / "cache", *overrides), cwd=tmp_path, check=False
    )
    _fails_with_one_line(proc, needle.replace("{files}", str(bad_files)))
    assert _files(tmp_path) == []


@pytest.fixture(scope="module")
def tokenized_cache(tmp_path_factory) -> Path:
    """One cache for the tokenized cases: the random base is built once."""
    return tmp_path_factory.mktemp("cache")


@pytest.mark.skipif(not (GPT2 / "vocab.json").exists(), reason=f"needs GPT-2's BPE in {GPT2}")
@pytest.mark.parametrize(("overrides", "needle"), _params(TOKENIZED_BAD))
def test_too_few_tokens_fail_after_tokenizing_before_the_run_dir(
    tmp_path, bad_files, tokenized_cache, overrides, needle
):
    """Counted once tokenized (the cache holds the base and the tokenization), refused
    before the run store opens: out_dir holds nothing, no run dir."""
    overrides = [o.replace("{files}", str(bad_files)) for o in overrides]
    proc = cli(*small_args(tmp_path / "runs", tokenized_cache, *overrides), check=False)
    _fails_with_one_line(proc, needle.replace("{files}", str(bad_files)))
    assert list((tmp_path / "runs").rglob("*")) == []


@pytest.mark.slow
def test_run_dir_with_a_different_config_is_refused_untouched(tmp_path, cache_dir):
    args = small_args(tmp_path / "runs", cache_dir, "run_name=mine", "T=1")
    cli(*args)
    run = tmp_path / "runs" / "mine"
    before = {p: p.read_bytes() for p in _files(run)}
    proc = cli(*args, "train.lr=1e-3", check=False)
    assert proc.returncode == 2
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert "holds a different config" in line and "train.lr" in line
    assert {p: p.read_bytes() for p in _files(run)} == before
    # the same config (runtime settings may differ) resumes instead
    cli(*args, "runtime.progress=true")


def test_data_quality_composes_with_the_generation_mode():
    cfg = make_cfg("data_quality=[temp0.5,real10]")
    assert cfg.generate.do_sample and cfg.generate.temperature == 0.5
    assert cfg.data_quality.real_fraction == 0.1
    assert config.data_quality_label(cfg) == "temp0.5+real10"
    cfg = make_cfg("data_quality=beam")
    assert cfg.generate.num_beams == 5 and not cfg.generate.do_sample
    assert cfg.data_quality.real_fraction == 0.0


def test_shares_give_non_integer_hill_shannon_diversity():
    cfg = make_cfg("diversity=shares")
    w = config.shares(cfg)
    entropy = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))
    assert config.hill_shannon(w) == pytest.approx(math.exp(entropy), rel=1e-12)
    assert 2.8 < config.hill_shannon(w) < 2.81
    assert config.hill_shannon([0.25] * 4) == pytest.approx(4.0)
    assert config.diversity_label(cfg) == "D2.80"


def test_run_id_ignores_runtime_settings_only():
    a = make_cfg()
    assert config.config_hash(a) == config.config_hash(
        make_cfg("runtime.progress=true", "out_dir=x")
    )
    assert config.config_hash(a) != config.config_hash(make_cfg("train.lr=1e-3"))
    assert config.config_hash(a) != config.config_hash(make_cfg("seed=1"))


def test_user_facing_key_names_exist():
    cfg = make_cfg()
    for key in (
        "T",
        "seed",
        "out_dir",
        "diversity.m",
        "diversity.shares",
        "scale.fraction",
        "data.block_size",
        "train.epochs",
        "train.lr",
        "train.batch_size",
        "generate.num_beams",
        "generate.do_sample",
        "generate.temperature",
        "generate.top_k",
        "generate.top_p",
        "generate.batch_size",
        "data_quality.real_fraction",
    ):
        node, *rest = key.split(".")
        assert node in cfg and (not rest or rest[0] in cfg[node]), key


DATA_QUALITY = sorted(p.stem for p in (CONF / "data_quality").glob("*.yaml"))
# the labels runs of these options already carry (in run.json, hence in every analysis)
EXISTING_LABELS = {
    "beam": "beam",
    "temp0.5": "temp0.5",
    "temp1": "temp1",
    "temp2": "temp2",
    "real10": "beam+real10",
    "retrain_real": "beam",  # its condition differs by protocol=retrain_real
}


def test_every_data_quality_option_has_a_distinct_condition():
    """Two options that generate differently must never share a label: the analysis pools
    runs by condition, so nucleus sampling labelled temp1 would be averaged with temp1."""
    conditions = {}
    for option in DATA_QUALITY:
        cfg = make_cfg(f"data_quality={option}")
        config.validate(cfg)
        if option in EXISTING_LABELS:
            assert config.data_quality_label(cfg) == EXISTING_LABELS[option], option
        conditions[option] = tuple(config.condition(cfg).items())
    assert len(set(conditions.values())) == len(conditions), conditions
    assert config.data_quality_label(make_cfg("data_quality=nucleus0.9")) == "nucleus0.9"


@pytest.mark.parametrize("mode", ["beam", "temp1", "nucleus0.9"])
def test_real10_composes_with_every_generation_mode(mode):
    cfg = make_cfg(f"data_quality=[{mode},real10]")
    assert config.data_quality_label(cfg) == f"{mode}+real10"


def test_run_id_counts_only_departures_from_the_schema_defaults():
    """A key added later with a default, or one an old config.yaml lacks, changes no
    run's identity; a value away from its default does."""
    cfg = make_cfg("data_quality=temp1")
    tree = config.resolved(cfg)
    assert tree["generate"]["repetition_penalty"] == 1.0  # the schema's default
    del tree["generate"]["repetition_penalty"]
    del tree["measure"]
    assert config.departures(tree) == {**config.identity(cfg), "T": 2}  # T: no identity
    assert "T" not in config.identity(cfg)
    assert config.identity(cfg)["generate"]["do_sample"] is True
    assert "runtime" not in config.identity(cfg) and "out_dir" not in config.identity(cfg)
    assert config.identity(cfg)["train"]["lr"] == 3e-4  # no default: always in
    assert config.departures({"families": {"a": {}}}) == {"families": {"a": {}}}


def test_a_run_dir_of_an_older_schema_still_matches(tmp_path):
    """config.yaml of a release without a key resumes; one with another value is refused."""
    import yaml

    from ecosys.rundir.store import RunStore

    cfg = make_cfg("data_quality=temp1")
    tree = config.resolved(cfg)
    del tree["generate"]["repetition_penalty"], tree["data_quality"]["retrain_real"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tree))
    RunStore._check_same_config(tmp_path, cfg)
    tree["generate"]["top_k"] = 10
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tree))
    with pytest.raises(config.ConfigError, match=r"generate\.top_k: 10 → default"):
        RunStore._check_same_config(tmp_path, make_cfg("data_quality=temp1", "generate.top_k=50"))


def test_enums_are_plain_strings_outside_the_config():
    cfg = make_cfg("model=tiny-llama")
    assert cfg.model.arch == "llama" and isinstance(cfg.model.arch, config.Arch)
    tree = config.resolved(cfg)
    assert type(tree["model"]["arch"]) is str and type(tree["train"]["mixed_precision"]) is str


def test_cached_base_models_keep_their_keys():
    """The synthetic base's cache key is derived from the schema (config.SHAPE) and its
    value is unchanged, so bases already pretrained are reused."""
    from ecosys.models import base

    assert config.SHAPE == ("arch", "n_layer", "n_embd", "n_head", "n_positions")
    for model, name in [
        ("tiny", "base-tiny-4e5e1907d105"),
        ("tiny-llama", "base-tiny-llama-a97f67d9664e"),
    ]:
        cfg = make_cfg(f"model={model}", "cache_dir=c", small=False)
        assert base._path(cfg, cfg.model, base._synthetic_key(cfg, cfg.model)).name == name


def test_a_cached_base_whose_files_fail_their_checksums_is_built_again(tmp_path, caplog):
    """A converted base (gguf) is sealed with the sha256 of its files: an entry damaged
    after it was built is built again, an intact one is reused without building."""
    from ecosys.convert import gguf
    from ecosys.models import base

    builds = []

    def build(out):
        builds.append(out)
        out.mkdir()
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"weights")
        gguf.seal(out)

    cfg = make_cfg(f"cache_dir={tmp_path}")
    path = base._cached(cfg, cfg.model, {"k": 1}, build, intact=gguf.verify)
    assert base._cached(cfg, cfg.model, {"k": 1}, build, intact=gguf.verify) == path
    assert len(builds) == 1 and gguf.verify(path) == []
    (tmp_path / path / "model.safetensors").write_bytes(b"weightz")
    assert gguf.verify(path) == ["model.safetensors"]
    with caplog.at_level("WARNING"):
        base._cached(cfg, cfg.model, {"k": 1}, build, intact=gguf.verify)
    assert len(builds) == 2 and "fail their checksums" in caplog.text
    assert (tmp_path / path / "model.safetensors").read_bytes() == b"weights"
