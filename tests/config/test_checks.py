"""Bad input fails before compute (ecosys/config/checks.py, inputs.py): non-zero exit,
one line naming the key, nothing written."""

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import SHARED_DATA, cli, small_args

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
    (["curation=self", "curation.keep=0"], "curation.keep"),
    (["curation=surprise", "curation.keep=1.5"], "curation.keep"),
    (["curation=degenerate", "curation.max_token_share=0"], "curation.max_token_share"),
    (["curation=self", "data_quality=retrain_real"], "curation=self selects from the pool"),
    (["curation=oracle", *REAL], "curation=oracle needs p_data"),
    (["curation=oracle", "communities=synthetic_halves"], "curation=oracle needs p_data"),
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
