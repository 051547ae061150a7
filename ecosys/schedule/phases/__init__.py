"""The phases of an iteration and their bodies (DESIGN.md §1), run in the order
`layout.PHASES` spells (ecosys/rundir/layout.py: unit keys and metrics rows follow it).

Each phase names its body: `(ctx, t, m) -> Result` for a per-model phase,
`(ctx, t) -> Result` for an ecosystem phase (rank 0, once every model's units of t
are committed), and optionally a batched body `(ctx, t, group) -> [Result]` for
models of one base. `applies` says at which t (t = -1: the base models) it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ecosys.rundir import layout
from ecosys.schedule.context import Context, Result
from ecosys.schedule.phases.exchange import generate, pool
from ecosys.schedule.phases.scoring import cross, disagree, evaluate, evaluate_together, measure
from ecosys.schedule.phases.training import train, train_together


@dataclass(frozen=True)
class Phase:
    name: str
    body: Callable[..., Result]
    applies: Callable[[Context, int], bool]
    per_model: bool = True
    together: Callable[[Context, int, list[int]], list[Result]] | None = None
    batchable: Callable[[Context], bool] = lambda ctx: True  # may `together` run now?


def _iterating(ctx: Context, t: int) -> bool:
    return t >= 0


# in any order: layout.PHASES orders them
BODIES = (
    Phase("train", train, _iterating, together=train_together),
    Phase(
        "evaluate",
        evaluate,
        lambda ctx, t: True,
        together=evaluate_together,
        # the batched pass scores the test set only: no training blocks, no tail ranks
        batchable=lambda ctx: not (ctx.cfg.train.eval_on_train or ctx.cfg.lenses.enabled),
    ),
    Phase("measure", measure, lambda ctx, t: bool(ctx.references)),
    Phase("generate", generate, lambda ctx, t: t >= 0 and ctx.makes_pool(t)),
    Phase(
        "cross",
        cross,
        lambda ctx, t: t >= 0 and ctx.makes_pool(t) and ctx.crosses(),
        per_model=False,
    ),
    Phase("pool", pool, lambda ctx, t: t >= 0 and ctx.makes_pool(t), per_model=False),
    Phase(
        "disagree",
        disagree,
        lambda ctx, t: t >= 0 and bool(ctx.references) and ctx.n_models > 1,
        per_model=False,
    ),
)


def in_layout_order(bodies: tuple[Phase, ...]) -> tuple[Phase, ...]:
    """The phases in layout.PHASES's order; a body without a place there, or a place
    without a body, stops the import."""
    names = sorted(p.name for p in bodies)
    if names != sorted(layout.PHASES) or len(set(names)) != len(names):
        raise RuntimeError(f"phase bodies {names} and layout.PHASES {layout.PHASES} differ")
    return tuple(sorted(bodies, key=lambda p: layout.PHASES.index(p.name)))


PHASES = in_layout_order(BODIES)
TRAIN = next(p for p in PHASES if p.name == "train")
