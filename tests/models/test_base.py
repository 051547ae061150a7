"""Where a base model comes from (ecosys/models/base.py): its cache entry, keyed by what
determines it and rebuilt when its files no longer match their checksums."""

from helpers import make_cfg

from ecosys import config
from ecosys.convert import gguf
from ecosys.models import base


def test_cached_base_models_keep_their_keys():
    """The synthetic base's cache key is derived from the schema (config.SHAPE) and its
    value is unchanged, so bases already pretrained are reused."""
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
