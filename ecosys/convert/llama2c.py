"""llama2.c checkpoints → a `transformers` LlamaForCausalLM directory with its tokenizer.

    python -m ecosys.convert.llama2c SRC_DIR_OR_BIN OUT_DIR [--tokenizer tok512.model]

The llama2.c export (`run.c`'s format): a header of seven int32 (dim, hidden_dim,
n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a positive vocab_size means the
classifier shares the embedding), then float32 weights in this order: token embedding,
attention norms, wq, wk, wv, wo, ffn norms, w1, w2, w3, final norm, the RoPE tables
(unused), and the classifier if not shared. Every matrix is stored (out, in) like
nn.Linear. llama2.c rotates interleaved pairs; HF Llama rotates halves, so wq/wk rows
are permuted per head (as in transformers' own convert_llama_weights_to_hf).

The SentencePiece tokenizer becomes a fast tokenizer that matches `sentencepiece`
token for token: byte-fallback BPE, whitespace trimmed and collapsed as SentencePiece
does, and literal "<unk>" text split, not read as the special token.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import SentencePieceExtractor


@dataclass(frozen=True)
class Header:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int  # negative in the file when the classifier is separate
    seq_len: int

    @property
    def head_size(self) -> int:
        return self.dim // self.n_heads


def read(path: str | Path) -> tuple[Header, dict[str, np.ndarray]]:
    """The header and the weights of a llama2.c `.bin`, by llama2.c's names."""
    raw = Path(path).read_bytes()
    header = Header(*np.frombuffer(raw[:28], dtype=np.int32).tolist())
    h = header
    v, kv = abs(h.vocab_size), h.n_kv_heads * h.head_size
    shapes = [
        ("token_embedding", (v, h.dim)),
        ("rms_att", (h.n_layers, h.dim)),
        ("wq", (h.n_layers, h.dim, h.dim)),
        ("wk", (h.n_layers, kv, h.dim)),
        ("wv", (h.n_layers, kv, h.dim)),
        ("wo", (h.n_layers, h.dim, h.dim)),
        ("rms_ffn", (h.n_layers, h.dim)),
        ("w1", (h.n_layers, h.hidden_dim, h.dim)),
        ("w2", (h.n_layers, h.dim, h.hidden_dim)),
        ("w3", (h.n_layers, h.hidden_dim, h.dim)),
        ("rms_final", (h.dim,)),
        ("freq_cis", (2, h.seq_len, h.head_size // 2)),
    ]
    if h.vocab_size < 0:
        shapes.append(("wcls", (v, h.dim)))
    floats = np.frombuffer(raw[28:], dtype=np.float32)
    weights, at = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        weights[name] = floats[at : at + n].reshape(shape)
        at += n
    if at != len(floats):
        raise ValueError(f"{path}: {len(floats)} floats after the header, the format implies {at}")
    return header, weights


def _rotate_half_order(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder each head's rows from interleaved pairs to halves (HF's rotary layout)."""
    rows, cols = w.shape
    return (
        w.reshape(n_heads, rows // n_heads // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)
    )


def to_transformers(header: Header, weights: dict[str, np.ndarray]) -> LlamaForCausalLM:
    h = header
    config = LlamaConfig(
        vocab_size=abs(h.vocab_size),
        hidden_size=h.dim,
        intermediate_size=h.hidden_dim,
        num_hidden_layers=h.n_layers,
        num_attention_heads=h.n_heads,
        num_key_value_heads=h.n_kv_heads,
        max_position_embeddings=h.seq_len,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=h.vocab_size > 0,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
    )
    sd = {
        "model.embed_tokens.weight": weights["token_embedding"],
        "model.norm.weight": weights["rms_final"],
        "lm_head.weight": weights["wcls"] if h.vocab_size < 0 else weights["token_embedding"],
    }
    for i in range(h.n_layers):
        p = f"model.layers.{i}."
        sd |= {
            p + "input_layernorm.weight": weights["rms_att"][i],
            p + "self_attn.q_proj.weight": _rotate_half_order(weights["wq"][i], h.n_heads),
            p + "self_attn.k_proj.weight": _rotate_half_order(weights["wk"][i], h.n_kv_heads),
            p + "self_attn.v_proj.weight": weights["wv"][i],
            p + "self_attn.o_proj.weight": weights["wo"][i],
            p + "post_attention_layernorm.weight": weights["rms_ffn"][i],
            p + "mlp.gate_proj.weight": weights["w1"][i],
            p + "mlp.down_proj.weight": weights["w2"][i],
            p + "mlp.up_proj.weight": weights["w3"][i],
        }
    model = LlamaForCausalLM(config).to(torch.float32)
    missing, unexpected = model.load_state_dict(
        {k: torch.tensor(v) for k, v in sd.items()}, strict=False
    )
    missing = [k for k in missing if "rotary_emb" not in k]
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit LlamaForCausalLM: missing {missing}, unexpected {unexpected}"
        )
    model.generation_config.pad_token_id = config.eos_token_id
    return model.eval()


def sentencepiece_tokenizer(model_file: str | Path) -> PreTrainedTokenizerFast:
    """A fast tokenizer equal to `sentencepiece` on a byte-fallback BPE model."""
    extracted = SentencePieceExtractor(str(model_file)).extract(models.BPE)
    tok = Tokenizer(
        models.BPE(
            vocab=extracted["vocab"],
            merges=extracted["merges"],
            unk_token="<unk>",
            fuse_unk=True,
            byte_fallback=True,
        )
    )
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(r"\A +| +\z"), ""),  # \A, \z: ^ and $ match per line
            normalizers.Replace(Regex(r" {2,}"), " "),
            normalizers.Prepend("▁"),
            normalizers.Replace(" ", "▁"),
        ]
    )
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",  # never used to pad: ecosys' prompts all have one length
        split_special_tokens=True,
    )


def convert(src: str | Path, out: str | Path, tokenizer: str | Path | None = None) -> Path:
    """Write OUT (a `save_pretrained` directory) from a llama2.c `.bin` or its directory."""
    src = Path(src)
    bins = [src] if src.is_file() else sorted(src.glob("*.bin"))
    bins = [b for b in bins if not b.name.startswith("tok")]
    if len(bins) != 1:
        raise FileNotFoundError(f"{src}: expected one llama2.c checkpoint (.bin), found {bins}")
    tok_file = Path(tokenizer) if tokenizer else next(iter(bins[0].parent.glob("*.model")), None)
    if tok_file is None:
        raise FileNotFoundError(
            f"{src}: no SentencePiece .model beside the checkpoint; pass --tokenizer"
        )
    header, weights = read(bins[0])
    out = Path(out)
    to_transformers(header, weights).save_pretrained(out)
    sentencepiece_tokenizer(tok_file).save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecosys.convert.llama2c", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "src", help="a llama2.c .bin, or the directory holding it and its tok*.model"
    )
    parser.add_argument("out", help="the transformers directory to write")
    parser.add_argument(
        "--tokenizer", help="the SentencePiece .model (default: the one beside src)"
    )
    args = parser.parse_args(argv)
    transformers.utils.logging.disable_progress_bar()
    try:
        out = convert(args.src, args.out, args.tokenizer)
    except (FileNotFoundError, ValueError) as err:
        print(f"llama2c: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
