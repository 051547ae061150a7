"""The llama2.c converter, checked against an independent re-implementation of
llama2.c's forward pass and against `sentencepiece` itself, on the real stories260K."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import SHARED_DATA

from ecosys.convert import llama2c

STORIES = SHARED_DATA / "models" / "stories260K"
pytestmark = pytest.mark.skipif(
    not (STORIES / "stories260K.bin").exists(),
    reason=f"needs the stories260K checkpoint in {STORIES} (../shared/data, present in CI)",
)


def llama2c_forward(bin_path, tokens: list[int]) -> np.ndarray:
    """Logits of every position, as run.c computes them (float64, no transformers):
    RMSNorm, interleaved-pair RoPE, grouped-query attention, SwiGLU."""
    raw = bin_path.read_bytes()
    dim, hidden, n_layers, n_heads, n_kv, vocab, _seq_len = np.frombuffer(raw[:28], np.int32)
    w = np.frombuffer(raw[28:], np.float32).astype(np.float64)
    hs, kvd = dim // n_heads, n_kv * (dim // n_heads)

    def take(*shape):
        nonlocal w
        n = int(np.prod(shape))
        out, w = w[:n].reshape(shape), w[n:]
        return out

    emb = take(abs(vocab), dim)
    rms_att, wq, wk = take(n_layers, dim), take(n_layers, dim, dim), take(n_layers, kvd, dim)
    wv, wo, rms_ffn = take(n_layers, kvd, dim), take(n_layers, dim, dim), take(n_layers, dim)
    w1, w2, w3 = (
        take(n_layers, hidden, dim),
        take(n_layers, dim, hidden),
        take(n_layers, hidden, dim),
    )
    rms_final = take(dim)

    def rmsnorm(x, g):
        return x / np.sqrt((x * x).mean() + 1e-5) * g

    def rope(v, pos):  # rotate the pairs (2i, 2i+1) of every head, as run.c does
        v = v.copy()
        for i in range(0, len(v), 2):
            freq = 1.0 / 10000.0 ** ((i % hs) / hs)
            c, s = np.cos(pos * freq), np.sin(pos * freq)
            v[i], v[i + 1] = v[i] * c - v[i + 1] * s, v[i] * s + v[i + 1] * c
        return v

    keys = [[None] * len(tokens) for _ in range(n_layers)]
    values = [[None] * len(tokens) for _ in range(n_layers)]
    logits = []
    for pos, tok in enumerate(tokens):
        x = emb[tok].copy()
        for layer in range(n_layers):
            xb = rmsnorm(x, rms_att[layer])
            q = rope(wq[layer] @ xb, pos)
            keys[layer][pos] = rope(wk[layer] @ xb, pos)
            values[layer][pos] = wv[layer] @ xb
            att_out = np.zeros(dim)
            for h in range(n_heads):
                kvh = h // (n_heads // n_kv)
                qh = q[h * hs : (h + 1) * hs]
                ks = np.array([k[kvh * hs : (kvh + 1) * hs] for k in keys[layer][: pos + 1]])
                vs = np.array([v[kvh * hs : (kvh + 1) * hs] for v in values[layer][: pos + 1]])
                a = ks @ qh / np.sqrt(hs)
                a = np.exp(a - a.max())
                att_out[h * hs : (h + 1) * hs] = (a / a.sum()) @ vs
            x = x + wo[layer] @ att_out
            xb = rmsnorm(x, rms_ffn[layer])
            g = w1[layer] @ xb
            x = x + w2[layer] @ (g / (1 + np.exp(-g)) * (w3[layer] @ xb))
        logits.append(emb @ rmsnorm(x, rms_final))  # shared classifier
    return np.array(logits)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return llama2c.convert(STORIES, tmp_path_factory.mktemp("s260") / "model")


def test_converted_logits_match_llama2c_forward(converted):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32).eval()
    tokens = [1, 403, 407, 261, 378, 24, 270, 422, 312, 281, 75, 330, 506, 271, 99, 345]
    with torch.no_grad():
        ours = model(torch.tensor([tokens])).logits[0].double().numpy()
    ref = llama2c_forward(STORIES / "stories260K.bin", tokens)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def test_header_and_size_are_read_exactly():
    header, weights = llama2c.read(STORIES / "stories260K.bin")
    assert (header.dim, header.n_layers, header.n_heads, header.n_kv_heads) == (64, 5, 8, 4)
    assert (header.vocab_size, header.seq_len, header.hidden_dim) == (512, 512, 172)
    assert sum(w.size for w in weights.values()) == 264_128


def test_converted_tokenizer_equals_sentencepiece_on_wikitext(converted):
    spm = pytest.importorskip("sentencepiece")
    from transformers import AutoTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(STORIES / "tok512.model"))
    tok = AutoTokenizer.from_pretrained(converted)
    lines = (SHARED_DATA / "wikitext-2" / "valid.txt").read_text().split("\n")
    ours = tok(lines, add_special_tokens=False)["input_ids"]
    mismatches = [line for line, ids in zip(lines, ours, strict=True) if sp.encode(line) != ids]
    assert mismatches == []
    assert tok.decode(tok.encode(" The  <unk> game ", add_special_tokens=False)) == "The <unk> game"


def test_cli_converts_and_reports_errors(tmp_path, capsys):
    assert llama2c.main([str(STORIES / "stories260K.bin"), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "tokenizer.json").exists()
    assert llama2c.main([str(tmp_path), str(tmp_path / "x")]) == 2
    assert "expected one llama2.c checkpoint" in capsys.readouterr().err
