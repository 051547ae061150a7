"""What tells conditions apart, for the figures: a panel's title names only what differs
between the conditions drawn together (`accumulate · train.lr=1e-4`), and what they share
is said once, above them. Past `most` conditions a figure is split into groups, each
named by what its members share, one file each (`d_opt-accumulate.png`).

A condition's parts are its labels (sweep.LABELS; None: the axis a comparison varies,
left out) and each `key=value` of its variant. Plain strings, no plotting stack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from analysis.sweep import DEFAULTS, LABELS, QUIET

Part = tuple[
    str, str
]  # (key, the text shown): ("regime", "accumulate"), ("train.lr", "train.lr=1e-4")
SEP = " · "


def parts(cond: Sequence) -> list[Part]:
    """A condition's labels (in LABELS order), then its variant's keys (sorted)."""
    *labels, variant = cond
    out = [(k, str(v)) for k, v in zip(LABELS, labels, strict=True) if v is not None]
    pairs = [(kv.partition("=")[0], kv) for kv in variant.split(", ")] if variant else []
    return out + sorted(pairs)


def split(conds: Sequence[Sequence]) -> tuple[list[Part], list[list[Part]]]:
    """(the parts every condition has alike, per condition the parts that differ); a key
    a condition lacks (a run without a config) reads `key=?` there."""
    each = [dict(parts(c)) for c in conds]
    keys = [k for k in LABELS if any(k in p for p in each)]
    keys += sorted({k for p in each for k in p} - set(LABELS))
    alike = [k for k in keys if all(k in p for p in each) and len({p[k] for p in each}) == 1]
    differ = [k for k in keys if k not in alike]
    return (
        [(k, each[0][k]) for k in alike],
        [[(k, p.get(k, f"{k}=?")) for k in differ] for p in each],
    )


def shared(conds: Sequence[Sequence]) -> str:
    """What the conditions have alike, as a name (a QUIET label at its default unsaid, as
    sweep.name does)."""
    alike, _ = split(conds)
    return SEP.join(t for k, t in alike if not (k in QUIET and t == DEFAULTS[k]))


def titles(conds: Sequence[Sequence]) -> list[str]:
    """Per condition, what differs from the others ("" for a single condition)."""
    _, differ = split(conds)
    return [SEP.join(t for _, t in d) for d in differ]


def wrap(text: str, chars: int) -> str:
    """text in lines of at most `chars`, broken between parts where it can be, else
    after a = _ , . / inside a part (a long config key or value), else anywhere."""
    lines: list[str] = []
    for part in text.split(SEP):
        for piece in _pieces(part, chars):
            if lines and len(lines[-1]) + len(SEP) + len(piece) <= chars:
                lines[-1] += SEP + piece
            else:
                lines.append(piece)
    return "\n".join(lines)


def _pieces(part: str, chars: int) -> list[str]:
    """One part in lines of at most `chars`, broken after = _ , . / where it can be."""
    lines = [""]
    for token in re.split(r"(?<=[=_,./ ])", part):
        while len(token) > chars:  # no break point near enough: cut it
            lines += [token[:chars]]
            token = token[chars:]
        if len(lines[-1]) + len(token) <= chars:
            lines[-1] += token
        else:
            lines.append(token)
    return [line.rstrip() for line in lines if line.strip()] or [""]


@dataclass
class Group:
    """Conditions drawn in one figure: `slug` names its file (empty: the only one) and
    `title` says what its members share beyond what every condition shares."""

    conds: list[tuple]
    slug: str
    title: str


def groups(conds: Sequence[tuple], most: int) -> list[Group]:
    """The conditions in groups of at most `most`, split along the keys that differ: at
    each step the key whose values leave the fewest groups, none over `most` if one can,
    consecutive values packed into one group while they fit."""
    conds = list(conds)
    if len(conds) <= most:
        return [Group(conds, "", "")]
    out: list[Group] = []

    def by(cs: list[tuple], key: str) -> dict[str, list[tuple]]:
        found: dict[str, list[tuple]] = {}
        for c in cs:
            found.setdefault(dict(parts(c)).get(key, f"{key}=?"), []).append(c)
        return found

    def step(cs: list[tuple], fixed: list[str]) -> None:
        if len(cs) <= most:
            out.append(Group(cs, _slug(fixed), SEP.join(fixed)))
            return
        keys = list(dict.fromkeys(k for d in split(cs)[1] for k, _ in d))
        cut = {k: by(cs, k) for k in keys}
        key = min(keys, key=lambda k: (_largest(cut[k]) > most, len(cut[k]), _largest(cut[k])))
        texts: list[str] = []  # values of `key` packed into one group while they fit
        packed: list[tuple] = []
        for text, sub in [*cut[key].items(), ("", [])]:  # ("", []): the last flush
            if packed and (not sub or len(packed) + len(sub) > most):
                step(packed, [*fixed, _joined(texts)])
                texts, packed = [], []
            if len(sub) > most:
                step(sub, [*fixed, text])
            elif sub:
                texts, packed = [*texts, text], [*packed, *sub]

    step(conds, [])
    return out


def _joined(texts: list[str]) -> str:
    """Values of one key as one name: `train.lr=1e-4,3e-4`, `accumulate,replace`."""
    keys = {t.partition("=")[0] for t in texts}
    if len(texts) > 1 and len(keys) == 1 and all("=" in t for t in texts):
        return f"{keys.pop()}=" + ",".join(t.partition("=")[2] for t in texts)
    return ",".join(texts)


def _largest(parts_of: dict[str, list]) -> int:
    return max(len(v) for v in parts_of.values())


def _slug(texts: list[str]) -> str:
    """A file-name-safe name of a group's values: `accumulate-train.lr=1e-4`."""
    return re.sub(r"[^A-Za-z0-9.=+_-]+", "_", "-".join(texts))
